"""Two course platforms, A and B, and a way to get an access token for either, as a platform's
server does: POST /oauth/token with its client id and secret (client credentials)."""

import base64
from collections.abc import Callable

import pytest
from django.test import Client

from tessera.platforms.services import Credentials, platform_create

TokenFor = Callable[..., str]


@pytest.fixture
def platform_a(db: None) -> Credentials:
    return platform_create(name="Moodle A", slug="moodle-a", return_urls=["https://lms-a.example/course/"])


@pytest.fixture
def platform_b(db: None) -> Credentials:
    return platform_create(name="Open edX B", slug="edx-b", return_urls=["https://lms-b.example/"])


def basic(credentials: Credentials, secret: str | None = None) -> str:
    pair = f"{credentials.client_id}:{secret if secret is not None else credentials.client_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def token_response(client: Client, credentials: Credentials, *, scope: str | None = None, secret: str | None = None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    return client.post("/oauth/token", data, HTTP_AUTHORIZATION=basic(credentials, secret))


@pytest.fixture
def token_for(client: Client) -> TokenFor:
    """token_for(credentials, scope="catalog redeem") -> an access token (every granted scope when None)."""

    def issue(credentials: Credentials, scope: str | None = None) -> str:
        response = token_response(client, credentials, scope=scope)
        assert response.status_code == 200, response.content
        token: str = response.json()["access_token"]
        return token

    return issue


@pytest.fixture
def as_platform() -> Callable[[str], dict[str, str]]:
    """Headers for a platform's API call with this access token."""
    return lambda token: {"HTTP_AUTHORIZATION": f"Bearer {token}"}
