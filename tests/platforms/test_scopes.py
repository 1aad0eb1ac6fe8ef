"""Which scopes a platform's token may carry: those granted to its Platform, every one of them when
the token request names none, and none at all for an OAuth client that is no platform's."""

import pytest
from django.test import Client
from oauth2_provider.models import Application

from tessera.platforms.scopes import PlatformScopes
from tessera.platforms.services import Credentials, platform_create
from tests.platforms.conftest import token_response

pytestmark = pytest.mark.django_db

scopes = PlatformScopes()


class TestTheScopesAClientMayAskFor:
    def test_are_those_granted_to_its_platform_in_order(self) -> None:
        credentials = platform_create(name="Canvas U", scopes=["redeem", "events", "catalog"])
        application = Application.objects.get(pk=credentials.platform.application_id)
        assert scopes.get_available_scopes(application) == ["catalog", "events", "redeem"]

    def test_a_client_that_is_no_platforms_may_ask_for_none(self) -> None:
        stranger = Application.objects.create(
            name="not a platform", client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )  # fmt: skip
        assert scopes.get_available_scopes(stranger) == []
        assert scopes.get_default_scopes(stranger) == []

    def test_no_client_may_ask_for_none(self) -> None:
        assert scopes.get_available_scopes(None) == []

    def test_a_request_naming_no_scope_gets_every_scope_the_platform_was_granted(self) -> None:
        credentials = platform_create(name="Canvas U", scopes=["events", "redeem"])
        application = Application.objects.get(pk=credentials.platform.application_id)
        assert scopes.get_default_scopes(application) == ["events", "redeem"]


class TestTheTokenEndpoint:
    def test_a_token_asks_for_fewer_scopes(self, client: Client, platform_a: Credentials) -> None:
        assert token_response(client, platform_a, scope="redeem").json()["scope"] == "redeem"

    def test_a_scope_the_platform_was_not_granted_is_refused(self, client: Client, db: None) -> None:
        narrow = platform_create(name="Narrow", scopes=["redeem"])
        response = token_response(client, narrow, scope="catalog")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"
        assert token_response(client, narrow).json()["scope"] == "redeem"
