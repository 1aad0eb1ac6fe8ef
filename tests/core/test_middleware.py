"""NUL in admin URLs: a clear 400 on every registered ModelAdmin, never a database error."""

import pytest
from django.contrib import admin
from django.contrib.admin.options import ModelAdmin
from django.test import RequestFactory
from django.urls import reverse

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def changelist_url(model_admin: ModelAdmin) -> str:
    meta = model_admin.model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def filter_parameters(model_admin: ModelAdmin, staff) -> list[str]:
    """The query parameters the changelist's list filters read, e.g. tag__exact."""
    request = RequestFactory().get(changelist_url(model_admin))
    request.user = staff
    changelist = model_admin.get_changelist_instance(request)
    return [name for spec in changelist.filter_specs for name in spec.expected_parameters()]


class TestAdminNulMiddleware:
    @pytest.mark.parametrize("model_admin", [model_admin for _, model_admin in REGISTERED], ids=str)
    def test_nul_in_a_search_or_any_list_filter_is_never_a_server_error(self, staff_client, staff, model_admin):
        url = changelist_url(model_admin)
        assert staff_client.get(url, {"q": "a\x00b"}).status_code < 500
        for parameter in filter_parameters(model_admin, staff):
            response = staff_client.get(url, {parameter: "\x00"})
            assert response.status_code == 400, parameter

    def test_nul_in_an_object_id_is_400(self, staff_client):
        assert staff_client.get("/admin/vouchers/code/a%00b/change/").status_code == 400

    def test_nul_in_a_parameter_name_is_400(self, staff_client):
        assert staff_client.get("/admin/vouchers/batch/", {"tag\x00": "x"}).status_code == 400

    def test_other_urls_are_left_to_their_views(self, staff_client):
        assert staff_client.get("/admin/vouchers/batch/", {"tag": "spring"}).status_code == 200
        assert staff_client.get("/staff/offers", {"q": "\x00"}).status_code == 200
