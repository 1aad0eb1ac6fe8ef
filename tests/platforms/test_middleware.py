"""A catalog import may carry more than Django's general 2.5 MB; nothing else may."""

import pytest
from django.test import Client

from tessera.platforms import middleware
from tessera.platforms.services import Credentials
from tests.platforms.conftest import TokenFor

pytestmark = pytest.mark.django_db
PADDED = '{"courses": [], "sessions": []}' + " " * 3_000_000  # valid JSON, above 2.5 MB


def test_an_import_above_djangos_limit_is_read(client: Client, platform_a: Credentials, token_for: TokenFor) -> None:
    response = client.post(middleware.IMPORT_PATH, PADDED, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token_for(platform_a, 'catalog')}")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["sessions"]["created"] == 0


def test_an_import_above_its_own_limit_is_413_in_the_apis_shape(
    client: Client, platform_a: Credentials, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(middleware, "IMPORT_MAX_BYTES", 1_000_000)
    response = client.post(middleware.IMPORT_PATH, PADDED, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token_for(platform_a, 'catalog')}")  # fmt: skip
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_other_routes_keep_djangos_limit(client: Client, platform_a: Credentials, token_for: TokenFor) -> None:
    response = client.put("/api/v1/platform/courses/c", PADDED, content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {token_for(platform_a, 'catalog')}")  # fmt: skip
    assert response.status_code == 400
