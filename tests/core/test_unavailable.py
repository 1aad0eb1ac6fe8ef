"""The database out of reach (tessera.core.unavailable): pages and the admin answer a plain 503 page
with Retry-After, logged as one warning; anything else is left to Django."""

import logging

import pytest
from django.db import InterfaceError, OperationalError

from tessera.core.unavailable import (
    RETRY_AFTER_SECONDS,
    DatabaseUnavailable,
    DatabaseUnavailableMiddleware,
    database_unavailable,
    server_error,
)


def middleware() -> DatabaseUnavailableMiddleware:
    return DatabaseUnavailableMiddleware(lambda request: pytest.fail("not asked for a response"))


class TestDatabaseUnavailable:
    def test_is_a_503_that_says_when_to_come_back(self):
        refusal = DatabaseUnavailable()
        assert (refusal.code, refusal.http_status, refusal.retry_after) == ("database_unavailable", 503, 5)
        assert "nothing was changed" in refusal.message

    def test_the_cause_is_logged_as_one_line_without_a_traceback(self, rf, caplog):
        with caplog.at_level(logging.WARNING, logger="tessera.core.unavailable"):
            database_unavailable(rf.post("/courses/x"), OperationalError("connection refused\nDETAIL: more"))
        [record] = caplog.records
        assert record.getMessage() == (
            "Database unavailable (OperationalError: connection refused) for POST /courses/x; answered 503."
        )
        assert record.exc_info is None


class TestTheMiddleware:
    @pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
    def test_a_view_that_meets_the_database_out_of_reach_answers_the_503_page(self, rf, error):
        response = middleware().process_exception(rf.get("/dashboard"), error)
        assert response.status_code == 503
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "<h1>Service unavailable</h1>" in response.content.decode()

    def test_any_other_error_is_left_to_django(self, rf):
        assert middleware().process_exception(rf.get("/dashboard"), ValueError("a bug")) is None


class TestServerError:
    def test_a_database_error_that_escaped_the_views_still_answers_503(self, rf):
        try:
            raise OperationalError("the database is restarting")
        except OperationalError:
            response = server_error(rf.get("/courses"))
        assert response.status_code == 503
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)

    def test_any_other_error_is_the_plain_500(self, rf):
        try:
            raise ValueError("a bug")
        except ValueError:
            response = server_error(rf.get("/courses"))
        assert response.status_code == 500
        assert "Retry-After" not in response
