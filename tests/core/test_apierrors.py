"""What both HTTP APIs do alike with an error before rendering it (tessera.core.apierrors): a
database out of reach becomes DatabaseUnavailable, and a refusal that knows when to come back says
so in Retry-After."""

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI

from tessera.core.apierrors import errors_rendered_by
from tessera.core.errors import DomainError, Forbidden
from tessera.core.ratelimit.limiter import RateLimited
from tessera.core.unavailable import RETRY_AFTER_SECONDS


def render(request: HttpRequest, error: Exception) -> HttpResponse:
    """A surface's own shape: here, its code and status."""
    assert isinstance(error, DomainError)
    return JsonResponse({"code": error.code}, status=error.http_status)


@pytest.fixture
def api() -> NinjaAPI:
    api = NinjaAPI(urls_namespace="test-apierrors")
    errors_rendered_by(api, render, (DomainError,))
    return api


class TestErrorsRenderedBy:
    @pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("closed")])
    def test_the_database_out_of_reach_is_rendered_as_database_unavailable(self, api, rf, error):
        response = api.on_exception(rf.get("/x"), error)
        assert (response.status_code, json.loads(response.content)) == (503, {"code": "database_unavailable"})
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)

    def test_a_rate_limited_caller_is_told_when_to_come_back(self, api, rf):
        response = api.on_exception(rf.get("/x"), RateLimited(retry_after=17))
        assert (response.status_code, json.loads(response.content)) == (429, {"code": "rate_limited"})
        assert response["Retry-After"] == "17"

    def test_another_refusal_is_rendered_without_retry_after(self, api, rf):
        response = api.on_exception(rf.get("/x"), Forbidden())
        assert (response.status_code, json.loads(response.content)) == (403, {"code": "forbidden"})
        assert "Retry-After" not in response
