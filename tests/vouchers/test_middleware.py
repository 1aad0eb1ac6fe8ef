"""With vouchers off, every voucher surface answers as if it did not exist
(tessera.vouchers.middleware); the rest of the site stays."""

import pytest
from django.http import Http404, HttpResponse

from tessera.vouchers.middleware import VoucherSurfaceMiddleware


def passed_on(request) -> HttpResponse:
    return HttpResponse("the view answered")


class TestVouchersOff:
    def test_vouchers_off_hides_the_voucher_admin(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get("/admin/vouchers/code/").status_code == 404
        assert client.get("/admin/catalog/course/").status_code == 200

    def test_vouchers_on_shows_it(self, client, staff):
        client.force_login(staff)
        assert client.get("/admin/vouchers/code/").status_code == 200

    @pytest.mark.parametrize("path", ["/api/v1/offers", "/bridges/shop/vouchers", "/staff/offers", "/admin/shop/shop/"])
    def test_every_voucher_path_is_not_found(self, rf, settings, path):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(Http404, match=r"Vouchers are disabled\."):
            VoucherSurfaceMiddleware(passed_on)(rf.get(path))

    @pytest.mark.parametrize("path", ["/courses", "/dashboard", "/admin/catalog/course/", "/healthz"])
    def test_other_paths_reach_their_views(self, rf, settings, path):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert VoucherSurfaceMiddleware(passed_on)(rf.get(path)).content == b"the view answered"

    def test_with_vouchers_on_voucher_paths_reach_their_views(self, rf):
        assert VoucherSurfaceMiddleware(passed_on)(rf.get("/api/v1/offers")).content == b"the view answered"
