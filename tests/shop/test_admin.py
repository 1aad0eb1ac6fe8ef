"""The shop admin (tessera.shop.admin): superusers issue and revoke tokens (shown once), set webhook
URLs and rotate secrets (shown once), retry deliveries; other staff see but change nothing; every
change is in the audit log under the superuser's id."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from tessera.shop.models import Shop, ShopToken
from tessera.shop.services import shop_webhook_set
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.conftest import clerk_holding, clerk_with
from tests.shop.conftest import BRIDGE, NO_TOKENS, TOKEN, actions_post
from tests.shop.webhooking import URL_A, Status, attempts_log, run_due_tasks

Action = AuditEvent.Action
HOOK = "https://shop.example/hooks/pathkey9"


@pytest.mark.django_db
class TestAdmin:
    def test_staff_issue_a_token_and_see_it_once(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post("/admin/shop/shoptoken/add/", {"shop": shop_a.shop.pk, "label": "pos"}, follow=True)
        [message] = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
        token = TOKEN.search(message.rsplit(" ", 1)[-1])[0]
        assert client.get(BRIDGE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        assert ShopToken.objects.filter(shop=shop_a.shop, label="pos").exists()

    def test_staff_revoke_a_token(self, client, staff, shop_a):
        client.force_login(staff)
        token = ShopToken.objects.get(shop=shop_a.shop)
        client.post("/admin/shop/shoptoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})
        assert client.get(BRIDGE, **shop_a.auth).status_code == 401

    def test_with_vouchers_off_the_shop_admin_does_not_exist(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get("/admin/shop/shop/").status_code == 404


@pytest.mark.django_db
class TestOnlySuperusersManageTokensAndWebhookSecrets:
    def test_staff_with_every_shop_permission_cannot_issue_a_token(self, client, shop_a):
        client.force_login(clerk_holding(Permission.objects.filter(content_type__app_label="shop")))
        assert client.get("/admin/shop/shoptoken/add/").status_code == 403
        assert client.post("/admin/shop/shoptoken/add/", {"shop": shop_a.shop.pk, "label": "pos"}).status_code == 403
        assert ShopToken.objects.count() == 1

    def test_nor_revoke_change_or_delete_one(self, client, shop_a):
        token = ShopToken.objects.get(shop=shop_a.shop)
        client.force_login(clerk_holding(Permission.objects.filter(content_type__app_label="shop")))
        client.post("/admin/shop/shoptoken/", actions_post("revoke_tokens", token.pk))
        change = f"/admin/shop/shoptoken/{token.pk}/change/"
        assert client.post(change, {"shop": shop_a.shop.pk, "label": "renamed"}).status_code == 403
        assert client.post(f"/admin/shop/shoptoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
        assert ShopToken.objects.filter(pk=token.pk, revoked_at=None, label=token.label).exists()
        assert client.get(BRIDGE, **shop_a.auth).status_code == 200

    def test_nor_add_change_or_delete_a_shop(self, client, shop_a):
        client.force_login(clerk_holding(Permission.objects.filter(content_type__app_label="shop")))
        assert client.post("/admin/shop/shop/add/", {"name": "Rogue", **NO_TOKENS}).status_code == 403
        change = f"/admin/shop/shop/{shop_a.shop.pk}/change/"
        moved = {"name": "Shop A", "webhook_url": "https://rogue.example/hooks", **NO_TOKENS}
        assert client.post(change, moved).status_code == 403
        assert client.post(f"/admin/shop/shop/{shop_a.shop.pk}/delete/", {"post": "yes"}).status_code == 403
        assert list(Shop.objects.values_list("name", "webhook_url", "webhook_secret")) == [("Shop A", "", "")]

    def test_nor_rotate_a_webhook_secret(self, client, shop_a):
        secret = shop_webhook_set(shop=shop_a.shop, url="https://shop-a.example/hooks")
        client.force_login(clerk_holding(Permission.objects.filter(content_type__app_label="shop")))
        response = client.post("/admin/shop/shop/", actions_post("rotate_webhook_secrets", shop_a.shop.pk), follow=True)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret == secret
        assert not any("shown only now" in str(m) for m in response.context["messages"])

    def test_they_still_see_shops_and_tokens_but_are_offered_no_action(self, client, shop_a):
        client.force_login(clerk_holding(Permission.objects.filter(content_type__app_label="shop")))
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
        assert client.get(BRIDGE, **shop_a.auth).status_code == 401
        shop_c = Shop.objects.get(name="Shop C")
        assert client.post(f"/admin/shop/shop/{shop_c.pk}/delete/", {"post": "yes"}).status_code == 302
        assert not Shop.objects.filter(name="Shop C").exists()


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


@pytest.mark.django_db
class TestRetryNowIsAudited:
    def test_the_admins_retry_now_names_the_staff_member_by_id(self, client, staff, sender, delivery):
        sender.answers.append(500)
        run_due_tasks()
        client.force_login(staff)
        with audited() as rows:
            client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        assert [(row.action, row.actor) for row in rows] == [(AuditEvent.Action.WEBHOOK_RETRIED, f"user:{staff.pk}")]


@pytest.mark.django_db
@pytest.mark.usefixtures("private_refused")
class TestForbiddenDestinations:
    def test_the_admin_form_refuses(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/",
            {"name": "Shop A", "webhook_url": "http://[::ffff:127.0.0.1]/", **NO_TOKENS},
        )
        assert response.status_code == 200
        assert "webhooks go to public addresses only" in response.content.decode()
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == ""


@pytest.mark.django_db
class TestWebhooks:
    def test_the_delivery_log_and_a_delivery_render(self, client, staff, sender, delivery):
        client.force_login(staff)
        listing = client.get("/admin/shop/webhookdelivery/?status__exact=pending")
        assert listing.status_code == 200
        assert "voucher.redeemed" in listing.content.decode()
        page = client.get(f"/admin/shop/webhookdelivery/{delivery.pk}/change/")
        assert page.status_code == 200
        assert str(delivery.event_id) in page.content.decode()

    def test_the_log_cannot_be_edited_or_deleted(self, client, staff, sender, delivery):
        client.force_login(staff)
        assert client.get("/admin/shop/webhookdelivery/add/").status_code == 403
        assert client.get(f"/admin/shop/webhookdelivery/{delivery.pk}/delete/").status_code == 403

    def test_retry_now_sends_at_once(self, client, staff, sender, delivery):
        sender.answers.append(500)
        run_due_tasks()
        client.force_login(staff)
        client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)

    @pytest.mark.parametrize(
        ("codenames", "outcomes"),
        [(["view_webhookdelivery"], []), (["view_webhookdelivery", "change_webhookdelivery"], ["delivered"])],
        ids=["view-only-staff-cannot", "staff-who-may-change-the-log-can"],
    )
    def test_retry_now_needs_the_change_permission_of_the_log(self, client, sender, delivery, codenames, outcomes):
        sender.answers.append(500)
        run_due_tasks()
        client.force_login(clerk_with(*codenames))
        client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        # The scheduled retry is 30 s away: only "retry now" makes a task due at once.
        assert run_due_tasks() == outcomes

    def test_staff_set_a_url_and_see_the_new_secret_once(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/", {"name": "Shop A", "webhook_url": URL_A, **NO_TOKENS},
            follow=True,
        )  # fmt: skip
        [message] = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == URL_A
        assert message.endswith(shop_a.shop.webhook_secret)
        assert client.get(f"/admin/shop/shop/{shop_a.shop.pk}/change/").status_code == 200

    def test_a_bad_url_is_a_form_error(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/", {"name": "Shop A", "webhook_url": "ftp://x", **NO_TOKENS}
        )
        assert response.status_code == 200
        assert "must be an http or https URL" in response.content.decode()
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == ""

    def test_staff_rotate_a_secret(self, client, staff, shop_a, secret_a):
        client.force_login(staff)
        response = client.post(
            "/admin/shop/shop/", {"action": "rotate_webhook_secrets", "_selected_action": [shop_a.shop.pk]}, follow=True
        )
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret != secret_a
        assert any(str(m).endswith(shop_a.shop.webhook_secret) for m in response.context["messages"])
