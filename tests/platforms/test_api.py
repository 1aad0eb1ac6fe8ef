"""The course platforms' routes at /api/v1/platform: the calling platform and its token's scopes,
and every route of theirs behind a platform's access token. (The event feed's reading is tested
in test_feed.py; each group of routes in its own file.)"""

import re

import pytest
from django.test import Client

from tessera.api.v1 import api
from tessera.platforms.services import Credentials
from tests.platforms.conftest import TokenFor

pytestmark = pytest.mark.django_db

PLATFORM_ROUTES = "/api/v1/platform"


def platform_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation under /api/v1/platform, path parameters filled in with 1."""
    paths = api.get_openapi_schema()["paths"]
    return [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in paths.items()
        if path.startswith(PLATFORM_ROUTES)
        for method in operations
    ]


class TestThePlatformCalling:
    def test_a_token_names_its_platform_and_scopes(
        self, client: Client, platform_a: Credentials, token_for: TokenFor
    ) -> None:
        token = token_for(platform_a, "catalog events")
        response = client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
        assert response.json() == {"name": "Moodle A", "slug": "moodle-a", "scopes": ["catalog", "events"]}

    def test_needs_no_scope_of_its_own_and_lists_the_scopes_in_order(
        self, client: Client, platform_b: Credentials, token_for: TokenFor
    ) -> None:
        token = token_for(platform_b, "redeem entitlements")
        response = client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
        assert response.json() == {"name": "Open edX B", "slug": "edx-b", "scopes": ["entitlements", "redeem"]}


class TestEveryPlatformRoute:
    def test_the_learners_catalog_offers_and_events_routes_are_mounted_here(self) -> None:
        paths = {path for _, path in platform_operations()}
        assert {"/api/v1/platform", "/api/v1/platform/events", "/api/v1/platform/redemptions",
                "/api/v1/platform/catalog:import", "/api/v1/platform/offers"} <= paths  # fmt: skip

    def test_answers_401_without_a_platforms_token(self, client: Client, platform_a: Credentials) -> None:
        operations = platform_operations()
        answers = {
            (method, path): getattr(client, method)(path, content_type="application/json").status_code
            for method, path in operations
        }
        assert answers == dict.fromkeys(operations, 401)
