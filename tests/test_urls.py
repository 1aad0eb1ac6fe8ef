"""Tessera's routes (tessera.urls): the health check, the root, and where the one API document
there was now leads."""


class TestRedirects:
    def test_the_one_document_there_was_now_leads_to_the_platform_apis(self, client, db):
        assert client.get("/openapi.json").headers["Location"] == "/api/v1/openapi.json"
        assert client.get("/docs").headers["Location"] == "/api/v1/docs"
