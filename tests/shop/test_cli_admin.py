"""Shops and tokens from the command line and the admin: shown once, stored as digests, revocable."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.shop.models import Shop, ShopToken

TOKEN = re.compile(r"^[0-9a-f]{64}$", re.MULTILINE)
URL = "/bridges/shop/vouchers"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestCommands:
    def test_create_shop_prints_a_working_token_once(self, client):
        token = TOKEN.search(run("create_shop", "Acme"))[0]
        assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        assert not ShopToken.objects.filter(digest=token).exists()

    def test_a_second_token_works_beside_the_first(self, client):
        first = TOKEN.search(run("create_shop", "Acme"))[0]
        second = TOKEN.search(run("create_shop_token", "Acme", "--label", "backup"))[0]
        assert first != second
        for token in (first, second):
            assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    def test_a_revoked_token_stops_working(self, client):
        token = TOKEN.search(run("create_shop", "Acme"))[0]
        run("revoke_shop_token", "Acme", token[:8])
        assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_a_duplicate_shop_is_invalid_input(self):
        run("create_shop", "Acme")
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run("create_shop", "Acme")
        assert Shop.objects.count() == 1

    def test_an_unknown_shop_is_not_found(self):
        with pytest.raises(CommandError, match=r"^not_found: "):
            run("create_shop_token", "Nobody")


@pytest.mark.django_db
class TestAdmin:
    def test_staff_issue_a_token_and_see_it_once(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post("/admin/shop/shoptoken/add/", {"shop": shop_a.shop.pk, "label": "pos"}, follow=True)
        [message] = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
        token = TOKEN.search(message.rsplit(" ", 1)[-1])[0]
        assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        assert ShopToken.objects.filter(shop=shop_a.shop, label="pos").exists()

    def test_staff_revoke_a_token(self, client, staff, shop_a):
        client.force_login(staff)
        token = ShopToken.objects.get(shop=shop_a.shop)
        client.post("/admin/shop/shoptoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})
        assert client.get(URL, **shop_a.auth).status_code == 401

    def test_with_vouchers_off_the_shop_admin_does_not_exist(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get("/admin/shop/shop/").status_code == 404
