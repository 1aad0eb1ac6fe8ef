"""Platforms authenticate with OAuth 2.0 client credentials; tokens carry scopes."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken

from tessera.api.services import api_token_issue
from tessera.platforms.services import Credentials, platform_secret_rotate, platform_settings_change
from tests.platforms.conftest import TokenFor, token_response

pytestmark = pytest.mark.django_db


class TestTokenEndpoint:
    def test_client_credentials_give_a_short_lived_bearer_token_with_every_granted_scope(
        self, client: Client, platform_a: Credentials
    ) -> None:
        response = token_response(client, platform_a)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 600
        assert set(body["scope"].split()) == {"catalog", "redeem", "entitlements", "events"}

    def test_the_token_is_kept_only_as_its_checksum(self, client: Client, platform_a: Credentials) -> None:
        token = token_response(client, platform_a).json()["access_token"]
        stored = AccessToken.objects.get()
        assert stored.token == ""
        assert token not in stored.token_checksum

    def test_an_unknown_client_is_401_invalid_client(self, client: Client, platform_a: Credentials) -> None:
        stranger = Credentials(platform=platform_a.platform, client_id="nobody", client_secret="x")
        response = token_response(client, stranger)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"

    def test_a_wrong_secret_is_401_invalid_client(self, client: Client, platform_a: Credentials) -> None:
        response = token_response(client, platform_a, secret="not-the-secret")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert not AccessToken.objects.exists()


class TestCallingTheApi:
    @pytest.mark.parametrize("header", ["", "Bearer ", "Bearer not-a-token", "Basic abc"])
    def test_no_or_a_bad_token_is_401(self, client: Client, platform_a: Credentials, header: str) -> None:
        response = client.get("/api/v1/platform", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"

    def test_an_expired_token_is_401(self, client: Client, platform_a: Credentials, token_for: TokenFor) -> None:
        token = token_for(platform_a)
        AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
        assert client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_a_learners_api_token_is_no_platform_token(self, client: Client, learner: User) -> None:
        _, learner_token = api_token_issue(user=learner, label="tests")
        response = client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {learner_token}")
        assert response.status_code == 401

    def test_a_rotated_secret_ends_the_old_secret_and_its_tokens(
        self, client: Client, platform_a: Credentials, token_for: TokenFor
    ) -> None:
        token = token_for(platform_a)
        rotated = platform_secret_rotate(platform=platform_a.platform)
        assert client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
        assert token_response(client, platform_a).status_code == 401
        assert token_response(client, rotated).status_code == 200

    def test_a_scope_taken_away_leaves_tokens_issued_before_without_it(
        self, client: Client, platform_a: Credentials, token_for: TokenFor
    ) -> None:
        token = token_for(platform_a)
        platform_settings_change(platform=platform_a.platform, scopes=["redeem"])
        response = client.get("/api/v1/platform", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.json()["scopes"] == ["redeem"]
