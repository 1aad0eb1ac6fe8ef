"""Shops authenticated by their bearer tokens (tessera.shop.auth), refused as Xikolo's bridge refuses
them (RFC 6750: one answer for no header, another for a bad token)."""

from tessera.shop.models import ShopToken
from tessera.shop.services import token_revoke
from tessera.vouchers.models import Code
from tests.shop.conftest import BRIDGE as URL


class TestAuthentication:
    def test_no_header_is_told_to_provide_one(self, client, db):
        response = client.get(URL)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json; charset=utf-8"
        assert response["WWW-Authenticate"] == 'Bearer realm="shop-bridge-api"'
        assert response.json() == {
            "type": "https://tools.ietf.org/html/rfc6750#section-3",
            "title": "You must provide an Authorization header to access this resource.",
            "status": 401,
        }

    def test_a_wrong_token_is_invalid(self, client, shop_a):
        response = client.get(URL, HTTP_AUTHORIZATION="Bearer " + "0" * 64)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json; charset=utf-8"
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        assert response.json()["type"] == "https://tools.ietf.org/html/rfc6750#section-3.1"
        assert response.json()["title"] == "The bearer token you provided was invalid, has expired or has been revoked."

    def test_a_revoked_token_is_invalid(self, client, shop_a):
        token_revoke(token=ShopToken.objects.get(shop=shop_a.shop))
        assert client.get(URL, **shop_a.auth).status_code == 401

    def test_a_post_without_a_token_creates_nothing(self, client, running_session):
        response = client.post(URL, {"qty": "2", "product": "course_enrollment", "country": "DE"})
        assert response.status_code == 401
        assert not Code.objects.exists()

    def test_tokens_are_stored_only_as_digests(self, shop_a):
        stored = ShopToken.objects.get(shop=shop_a.shop)
        assert shop_a.token not in (stored.digest, stored.prefix)
        assert len(shop_a.token) == 64

    def test_with_vouchers_off_the_bridge_does_not_exist(self, client, shop_a, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get(URL, **shop_a.auth).status_code == 404
        assert client.get(URL).status_code == 404
