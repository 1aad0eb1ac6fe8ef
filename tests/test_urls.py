"""Tessera's routes (tessera.urls): the health check, the root, and where the one API document
there was now leads."""


class TestHealthCheck:
    def test_answers_ok_without_the_database(self, client):
        """No database fixture: a query would fail the test."""
        response = client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


class TestRedirects:
    def test_the_root_leads_to_the_course_list(self, client, db):
        response = client.get("/")
        assert (response.status_code, response["Location"]) == (302, "/courses")

    def test_the_one_document_there_was_now_leads_to_the_platform_apis(self, client, db):
        assert client.get("/openapi.json").headers["Location"] == "/api/v1/openapi.json"
        assert client.get("/docs").headers["Location"] == "/api/v1/docs"
