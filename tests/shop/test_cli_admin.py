"""Shops and tokens from the command line and the admin: shown once, stored as digests, revocable."""

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.shop.models import Shop, ShopToken
from tessera.shop.services import shop_webhook_set

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


def holding_every_shop_permission() -> User:
    """Staff, not a superuser, granted every permission the shop app has."""
    user = User.objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="shop"))
    return user


def actions_post(name: str, *pks: int) -> dict[str, Any]:
    return {"action": name, "_selected_action": [str(pk) for pk in pks]}


@pytest.mark.django_db
class TestOnlySuperusersManageTokensAndWebhookSecrets:
    def test_staff_with_every_shop_permission_cannot_issue_a_token(self, client, shop_a):
        client.force_login(holding_every_shop_permission())
        assert client.get("/admin/shop/shoptoken/add/").status_code == 403
        assert client.post("/admin/shop/shoptoken/add/", {"shop": shop_a.shop.pk, "label": "pos"}).status_code == 403
        assert ShopToken.objects.count() == 1

    def test_nor_revoke_change_or_delete_one(self, client, shop_a):
        token = ShopToken.objects.get(shop=shop_a.shop)
        client.force_login(holding_every_shop_permission())
        client.post("/admin/shop/shoptoken/", actions_post("revoke_tokens", token.pk))
        change = f"/admin/shop/shoptoken/{token.pk}/change/"
        assert client.post(change, {"shop": shop_a.shop.pk, "label": "renamed"}).status_code == 403
        assert client.post(f"/admin/shop/shoptoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
        assert ShopToken.objects.filter(pk=token.pk, revoked_at=None, label=token.label).exists()
        assert client.get(URL, **shop_a.auth).status_code == 200

    def test_nor_add_change_or_delete_a_shop(self, client, shop_a):
        client.force_login(holding_every_shop_permission())
        assert client.post("/admin/shop/shop/add/", {"name": "Rogue", **NO_TOKENS}).status_code == 403
        change = f"/admin/shop/shop/{shop_a.shop.pk}/change/"
        moved = {"name": "Shop A", "webhook_url": "https://rogue.example/hooks", **NO_TOKENS}
        assert client.post(change, moved).status_code == 403
        assert client.post(f"/admin/shop/shop/{shop_a.shop.pk}/delete/", {"post": "yes"}).status_code == 403
        assert list(Shop.objects.values_list("name", "webhook_url", "webhook_secret")) == [("Shop A", "", "")]

    def test_nor_rotate_a_webhook_secret(self, client, shop_a):
        secret = shop_webhook_set(shop=shop_a.shop, url="https://shop-a.example/hooks")
        client.force_login(holding_every_shop_permission())
        response = client.post("/admin/shop/shop/", actions_post("rotate_webhook_secrets", shop_a.shop.pk), follow=True)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret == secret
        assert not any("shown only now" in str(m) for m in response.context["messages"])

    def test_they_still_see_shops_and_tokens_but_are_offered_no_action(self, client, shop_a):
        client.force_login(holding_every_shop_permission())
        for listing in ("/admin/shop/shop/", "/admin/shop/shoptoken/"):
            response = client.get(listing)
            assert response.status_code == 200
            assert response.context["action_form"] is None
        assert client.get(f"/admin/shop/shop/{shop_a.shop.pk}/change/").status_code == 200

    def test_a_superuser_may_do_all_of_it(self, client, staff, shop_a):
        client.force_login(staff)
        assert client.post("/admin/shop/shop/add/", {"name": "Shop C", **NO_TOKENS}).status_code == 302
        secret = shop_webhook_set(shop=shop_a.shop, url="https://shop-a.example/hooks")
        client.post("/admin/shop/shop/", actions_post("rotate_webhook_secrets", shop_a.shop.pk))
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret not in {secret, ""}
        client.post("/admin/shop/shoptoken/", actions_post("revoke_tokens", ShopToken.objects.get().pk))
        assert client.get(URL, **shop_a.auth).status_code == 401
        shop_c = Shop.objects.get(name="Shop C")
        assert client.post(f"/admin/shop/shop/{shop_c.pk}/delete/", {"post": "yes"}).status_code == 302
        assert not Shop.objects.filter(name="Shop C").exists()


# The token inline's management form, which every post of the shop's change form carries.
NO_TOKENS = {"tokens-TOTAL_FORMS": "0", "tokens-INITIAL_FORMS": "0", "tokens-MIN_NUM_FORMS": "0",
             "tokens-MAX_NUM_FORMS": "1000"}  # fmt: skip
