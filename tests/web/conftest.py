"""What the web tests share: logging in under the failed log-in limits."""

import pytest
from django.http import HttpResponse
from django.test import Client

LOGIN_LIMIT = 3  # failed log-ins a minute, in the tests that count them (login_limits)


@pytest.fixture
def login_limits(settings, ratelimit_clock) -> None:
    """TESSERA_LOGIN_ATTEMPTS at LOGIN_LIMIT a minute and 10 a day, the limiter's clock stopped
    10 s into a minute (tests/conftest.py)."""
    settings.TESSERA_LOGIN_ATTEMPTS = [(LOGIN_LIMIT, 60), (10, 86400)]


def log_in(
    client: Client, username: str, password: str, *, address: str = "203.0.113.1", path: str = "/login"
) -> HttpResponse:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session
