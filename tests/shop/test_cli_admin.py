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
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text

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


Action = AuditEvent.Action
HOOK = "https://shop.example/hooks/pathkey9"


def secret_in(text: str) -> str:
    return re.search(r"whsec_\S+", text)[0]


@pytest.mark.django_db
class TestCommandsWriteTheAuditLog:
    """Each command's change is in the audit log under "cli", as the voucher commands' are."""

    def test_create_shop_logs_the_shop_and_its_first_token(self):
        with audited() as rows:
            token = TOKEN.search(run("create_shop", "Acme"))[0]
        shop, issued = Shop.objects.get(), ShopToken.objects.get()
        assert [(row.action, row.actor) for row in rows] == [(Action.SHOP_CREATED, "cli"), (Action.TOKEN_ISSUED, "cli")]
        assert rows[1].detail == {"shop_id": shop.pk, "shop": "Acme", "kind": "shop_token", "token_id": issued.pk}
        assert all(token[:8] not in row_text(row) for row in rows)

    def test_create_shop_token_logs_the_new_token(self):
        run("create_shop", "Acme")
        with audited() as rows:
            token = TOKEN.search(run("create_shop_token", "Acme", "--label", "backup"))[0]
        [row] = rows
        assert (row.action, row.actor, row.detail["token_id"]) == (
            Action.TOKEN_ISSUED, "cli", ShopToken.objects.get(label="backup").pk,
        )  # fmt: skip
        assert token[:8] not in row_text(row)

    def test_revoke_shop_token_logs_the_revoked_token(self):
        token = TOKEN.search(run("create_shop", "Acme"))[0]
        with audited() as rows:
            run("revoke_shop_token", "Acme", token[:8])
        [row] = rows
        assert (row.action, row.actor, row.detail["token_id"]) == (
            Action.TOKEN_REVOKED,
            "cli",
            ShopToken.objects.get().pk,
        )
        assert token[:8] not in row_text(row)

    def test_a_prefix_two_live_tokens_share_revokes_none_and_logs_nothing(self):
        token = TOKEN.search(run("create_shop", "Acme"))[0]
        run("create_shop_token", "Acme")
        ShopToken.objects.update(prefix=token[:8])  # as if the random characters had collided
        with audited() as rows, pytest.raises(CommandError, match=r"^not_found: "):
            run("revoke_shop_token", "Acme", token[:8])
        assert rows == []
        assert not ShopToken.objects.filter(revoked_at__isnull=False).exists()

    def test_set_shop_webhook_logs_the_url_set_the_secret_rotated_and_webhooks_turned_off(self):
        run("create_shop", "Acme")
        with audited() as rows:
            first = secret_in(run("set_shop_webhook", "Acme", HOOK))
            rotated = secret_in(run("set_shop_webhook", "Acme", "--rotate-secret"))
            run("set_shop_webhook", "Acme", "--off")
        assert [(row.action, row.actor) for row in rows] == [
            (Action.WEBHOOK_SET, "cli"), (Action.SECRET_ROTATED, "cli"), (Action.WEBHOOK_OFF, "cli"),
        ]  # fmt: skip
        assert rows[0].detail["destination"] == "https://shop.example"
        for row in rows:
            assert first not in row_text(row)
            assert rotated not in row_text(row)
            assert "pathkey9" not in row_text(row)

    def test_a_forbidden_webhook_url_logs_nothing(self, settings):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        run("create_shop", "Acme")
        with audited() as rows, pytest.raises(CommandError, match=r"^webhook_url_forbidden: "):
            run("set_shop_webhook", "Acme", "http://169.254.169.254/latest/meta-data/")
        assert rows == []


def change_shop(client: Any, shop: Shop, **fields: str) -> Any:
    return client.post(f"/admin/shop/shop/{shop.pk}/change/", {**fields, **NO_TOKENS}, follow=True)


@pytest.mark.django_db
class TestTheAdminWritesTheAuditLog:
    """Each change made in the admin is in the audit log under the superuser's id."""

    def test_adding_a_shop_with_a_url_logs_both_and_not_the_secret(self, client, staff):
        client.force_login(staff)
        with audited() as rows:
            page = client.post("/admin/shop/shop/add/", {"name": "Acme", "webhook_url": HOOK, **NO_TOKENS}, follow=True)
        shop = Shop.objects.get(name="Acme")
        assert (shop.webhook_url, shop.webhook_secret[:6]) == (HOOK, "whsec_")
        assert [(row.action, row.actor) for row in rows] == [
            (Action.SHOP_CREATED, f"user:{staff.pk}"), (Action.WEBHOOK_SET, f"user:{staff.pk}"),
        ]  # fmt: skip
        assert all(row.detail["shop_id"] == shop.pk for row in rows)
        assert all(shop.webhook_secret not in row_text(row) for row in rows)
        assert any(shop.webhook_secret in str(message) for message in page.context["messages"])

    def test_adding_a_shop_without_a_url_logs_only_the_shop(self, client, staff):
        client.force_login(staff)
        with audited() as rows:
            client.post("/admin/shop/shop/add/", {"name": "Acme", "webhook_url": "", **NO_TOKENS})
        assert [row.action for row in rows] == [Action.SHOP_CREATED]
        assert Shop.objects.get(name="Acme").webhook_secret == ""

    def test_renaming_setting_and_clearing_the_url_are_each_one_row(self, client, staff, shop_a):
        client.force_login(staff)
        with audited() as rows:
            change_shop(client, shop_a.shop, name="Shop A2", webhook_url=HOOK)
            change_shop(client, shop_a.shop, name="Shop A2", webhook_url=HOOK)  # nothing changed: nothing logged
            change_shop(client, shop_a.shop, name="Shop A2", webhook_url="")
        assert [(row.action, row.actor) for row in rows] == [
            (Action.SHOP_RENAMED, f"user:{staff.pk}"), (Action.WEBHOOK_SET, f"user:{staff.pk}"),
            (Action.WEBHOOK_OFF, f"user:{staff.pk}"),
        ]  # fmt: skip
        assert rows[0].detail == {"shop_id": shop_a.shop.pk, "shop": "Shop A2", "old_name": "Shop A"}
        assert Shop.objects.filter(pk=shop_a.shop.pk, name="Shop A2", webhook_url="").exists()

    def test_a_forbidden_url_in_the_form_logs_nothing(self, client, staff, shop_a, settings):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        client.force_login(staff)
        with audited() as rows:
            page = change_shop(client, shop_a.shop, name="Shop A2", webhook_url="http://169.254.169.254/")
        assert "webhooks go to public addresses only" in page.content.decode()
        assert rows == []
        assert Shop.objects.filter(pk=shop_a.shop.pk, name="Shop A", webhook_url="").exists()

    def test_rotating_a_secret_logs_it_and_not_the_secret(self, client, staff, shop_a):
        old = shop_webhook_set(shop=shop_a.shop, url=HOOK)
        client.force_login(staff)
        with audited() as rows:
            client.post("/admin/shop/shop/", actions_post("rotate_webhook_secrets", shop_a.shop.pk))
        shop_a.shop.refresh_from_db()
        [row] = rows
        assert (row.action, row.actor, row.detail["shop_id"]) == (
            Action.SECRET_ROTATED,
            f"user:{staff.pk}",
            shop_a.shop.pk,
        )
        assert old not in row_text(row)
        assert shop_a.shop.webhook_secret not in row_text(row)

    def test_deleting_a_shop_is_logged_one_by_one_or_selected(self, client, staff):
        """(Only a shop without tokens: tokens are never deleted in the admin, so neither is their shop.)"""
        one, two = Shop.objects.create(name="One"), Shop.objects.create(name="Two")
        client.force_login(staff)
        with audited() as rows:
            client.post(f"/admin/shop/shop/{one.pk}/delete/", {"post": "yes"})
            client.post("/admin/shop/shop/", {**actions_post("delete_selected", two.pk), "post": "yes"})
        assert [(row.action, row.actor, row.detail["shop"]) for row in rows] == [
            (Action.SHOP_DELETED, f"user:{staff.pk}", "One"), (Action.SHOP_DELETED, f"user:{staff.pk}", "Two"),
        ]  # fmt: skip
        assert not Shop.objects.exists()

    def test_issuing_and_revoking_a_token_are_logged_without_it(self, client, staff, shop_a):
        client.force_login(staff)
        with audited() as rows:
            page = client.post("/admin/shop/shoptoken/add/", {"shop": shop_a.shop.pk, "label": "pos"}, follow=True)
            issued = ShopToken.objects.get(label="pos")
            client.post("/admin/shop/shoptoken/", actions_post("revoke_tokens", issued.pk))
        [message] = [str(m) for m in page.context["messages"] if "shown only now" in str(m)]
        token = TOKEN.search(message.rsplit(" ", 1)[-1])[0]
        assert [(row.action, row.actor, row.detail["token_id"]) for row in rows] == [
            (Action.TOKEN_ISSUED, f"user:{staff.pk}", issued.pk), (Action.TOKEN_REVOKED, f"user:{staff.pk}", issued.pk),
        ]  # fmt: skip
        assert all(token[:8] not in row_text(row) for row in rows)


# The token inline's management form, which every post of the shop's change form carries.
NO_TOKENS = {"tokens-TOTAL_FORMS": "0", "tokens-INITIAL_FORMS": "0", "tokens-MIN_NUM_FORMS": "0",
             "tokens-MAX_NUM_FORMS": "1000"}  # fmt: skip
