"""Bridge paths as Rails routes them (tessera.shop.middleware): a format suffix, a trailing slash or
repeated slashes reach the same route; only .json is a format."""

import pytest
from django.http import HttpResponse

from tessera.shop.middleware import BridgePathMiddleware, rails_route_path
from tests.shop.conftest import BRIDGE as URL
from tests.shop.conftest import order


class TestPathsAsRailsRoutesThem:
    @pytest.mark.parametrize("path", [f"{URL}.json", f"{URL}/", f"{URL}.json/", "/bridges/shop//vouchers//"])
    def test_the_list_answers_with_a_format_suffix_or_a_trailing_slash(self, client, shop_a, path):
        order(client, shop_a)
        response = client.get(path, **shop_a.auth)
        assert response.status_code == 200
        assert len(response.json()) == 3
        assert client.head(path, **shop_a.auth)["X-Total-Count"] == "3"

    @pytest.mark.parametrize("path", [f"{URL}.json", f"{URL}/"])
    def test_a_create_answers_with_a_format_suffix_or_a_trailing_slash(self, client, shop_a, path):
        response = order(client, shop_a, path=path)
        assert response.status_code == 200
        assert len(response.json()) == 3

    def test_one_voucher_and_its_void_answer_with_a_format_suffix(self, client, shop_a):
        [voucher] = order(client, shop_a, qty="1").json()
        assert client.get(f"{URL}/{voucher['id']}.json", **shop_a.auth).json()["id"] == voucher["id"]
        assert client.post(f"{URL}/{voucher['id']}/void.json", **shop_a.auth).json()["status"] == "revoked"

    def test_another_format_is_not_a_route(self, client, shop_a):
        assert client.get(f"{URL}.xml", **shop_a.auth).status_code == 404

    def test_the_paging_links_keep_the_path_asked_for(self, client, shop_a):
        order(client, shop_a, qty="60")
        assert '/bridges/shop/vouchers.json?page=2>; rel="next"' in client.get(f"{URL}.json", **shop_a.auth)["Link"]


class TestRailsRoutePath:
    @pytest.mark.parametrize(
        ("asked", "routed"),
        [
            ("/bridges/shop/vouchers", "/bridges/shop/vouchers"),
            ("/bridges/shop/vouchers.json", "/bridges/shop/vouchers"),
            ("/bridges/shop/vouchers/", "/bridges/shop/vouchers"),
            ("/bridges/shop//vouchers.json/", "/bridges/shop/vouchers"),
            ("/bridges/shop/vouchers/AB12/void.json", "/bridges/shop/vouchers/AB12/void"),
            ("/bridges/shop/vouchers.xml", "/bridges/shop/vouchers.xml"),
        ],
    )
    def test_is_the_path_a_rails_router_matches(self, asked, routed):
        assert rails_route_path(asked) == routed


class TestBridgePathMiddleware:
    def routed(self, rf, path: str) -> tuple[str, str]:
        seen = {}

        def view(request) -> HttpResponse:
            seen.update(path=request.path, path_info=request.path_info)
            return HttpResponse()

        BridgePathMiddleware(view)(rf.get(path))
        return seen["path"], seen["path_info"]

    def test_a_bridge_request_is_routed_by_the_rails_path_and_keeps_the_path_asked_for(self, rf):
        assert self.routed(rf, "/bridges/shop/vouchers.json/") == (
            "/bridges/shop/vouchers.json/",
            "/bridges/shop/vouchers",
        )

    def test_other_paths_are_left_as_they_are(self, rf):
        assert self.routed(rf, "/courses/") == ("/courses/", "/courses/")
        assert self.routed(rf, "/api/v1/offers.json") == ("/api/v1/offers.json", "/api/v1/offers.json")
