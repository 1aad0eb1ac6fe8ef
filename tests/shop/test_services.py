"""Shops, their tokens and webhook settings changed through the services: each change is one audit
row, written in the change's own transaction, naming the shop and the token by id and no secret."""

from typing import Any

import pytest
from django.db import DatabaseError
from django.db.models import ProtectedError

from tessera.core.destinations import WebhookUrlForbidden
from tessera.core.errors import InvalidInput
from tessera.shop.models import Shop, ShopToken
from tessera.shop.services import (
    shop_create,
    shop_delete,
    shop_rename,
    shop_vouchers_create,
    shop_webhook_off,
    shop_webhook_set,
    token_issue,
    token_revoke,
)
from tessera.vouchers.models import AuditEvent, Product
from tests.auditing import audited, row_text
from tests.shop.webhooking import SECRET, URL_A

Action = AuditEvent.Action
# A receiver's URL may carry a key of its own, in its path or query; the log keeps neither.
KEYED_URL = "https://hooks.example:8443/T0/B0/pathkey9?key=querykey7"


def audit_fails(*args: Any, **kwargs: Any) -> None:
    raise DatabaseError("the audit log refused the row")


@pytest.fixture
def shop(db: None) -> Shop:
    return Shop.objects.create(name="Acme")


@pytest.mark.django_db
class TestShopCreate:
    def test_a_new_shop_is_one_row_naming_it_and_who_made_it(self):
        with audited() as rows:
            shop = shop_create(name=" Acme ", actor="cli")
        [row] = rows
        assert (row.action, row.actor, row.detail) == (Action.SHOP_CREATED, "cli", {"shop_id": shop.pk, "shop": "Acme"})

    @pytest.mark.parametrize("name", ["", "Acme"])
    def test_a_refused_name_writes_no_row(self, shop, name):
        with audited() as rows, pytest.raises(InvalidInput):
            shop_create(name=name, actor="cli")
        assert rows == []
        assert Shop.objects.count() == 1


@pytest.mark.django_db
class TestShopRename:
    def test_a_new_name_is_one_row_keeping_the_old_one(self, shop):
        with audited() as rows:
            shop_rename(shop=shop, name="Acme Ltd", actor="user:7")
        [row] = rows
        assert (row.action, row.actor) == (Action.SHOP_RENAMED, "user:7")
        assert row.detail == {"shop_id": shop.pk, "shop": "Acme Ltd", "old_name": "Acme"}
        assert Shop.objects.get(pk=shop.pk).name == "Acme Ltd"

    def test_the_name_of_another_shop_is_refused_and_writes_no_row(self, shop):
        Shop.objects.create(name="Other")
        with audited() as rows, pytest.raises(InvalidInput):
            shop_rename(shop=shop, name="Other", actor="user:7")
        assert rows == []
        assert Shop.objects.get(pk=shop.pk).name == "Acme"


@pytest.mark.django_db
class TestShopDelete:
    def test_a_shop_and_its_tokens_go_in_one_row(self, shop):
        token_issue(shop=shop, actor="cli")
        shop_id = shop.pk  # deleting the shop clears its pk
        with audited() as rows:
            shop_delete(shop=shop, actor="user:7")
        [row] = rows
        assert (row.action, row.actor) == (Action.SHOP_DELETED, "user:7")
        assert row.detail == {"shop_id": shop_id, "shop": "Acme", "tokens": 1}
        assert not Shop.objects.exists()
        assert not ShopToken.objects.exists()

    def test_a_shop_that_sold_vouchers_stays_and_nothing_is_logged(self, shop, running_session):
        shop_vouchers_create(shop=shop, qty=1, product=Product.ENROLLMENT, country="DE", session=running_session)
        with audited() as rows, pytest.raises(ProtectedError):
            shop_delete(shop=shop, actor="user:7")
        assert rows == []
        assert Shop.objects.filter(pk=shop.pk).exists()


@pytest.mark.django_db
class TestTokenIssue:
    def test_a_token_is_one_row_naming_it_by_id_never_by_its_text(self, shop):
        with audited() as rows:
            token, plaintext = token_issue(shop=shop, label="pos", actor="cli")
        [row] = rows
        assert (row.action, row.actor) == (Action.TOKEN_ISSUED, "cli")
        assert row.detail == {"shop_id": shop.pk, "shop": "Acme", "kind": "shop_token", "token_id": token.pk}
        assert plaintext[:8] not in row_text(row)  # not even the prefix: it is a part of the token

    def test_an_audit_row_that_cannot_be_written_leaves_no_token(self, shop, monkeypatch):
        monkeypatch.setattr("tessera.shop.services.audit_record", audit_fails)
        with pytest.raises(DatabaseError):
            token_issue(shop=shop, actor="cli")
        assert not ShopToken.objects.exists()


@pytest.mark.django_db
class TestTokenRevoke:
    def test_revoking_is_one_row_and_revoking_again_none(self, shop):
        token, plaintext = token_issue(shop=shop, actor="cli")
        with audited() as rows:
            token_revoke(token=token, actor="user:7")
            token_revoke(token=token, actor="user:7")
        [row] = rows
        assert (row.action, row.actor) == (Action.TOKEN_REVOKED, "user:7")
        assert row.detail == {"shop_id": shop.pk, "shop": "Acme", "kind": "shop_token", "token_id": token.pk}
        assert plaintext[:8] not in row_text(row)


@pytest.mark.django_db
class TestShopWebhookSet:
    def test_the_first_url_is_one_row_with_its_origin_and_no_secret(self, shop):
        with audited() as rows:
            secret = shop_webhook_set(shop=shop, url=KEYED_URL, actor="cli")
        [row] = rows
        assert (row.action, row.actor) == (Action.WEBHOOK_SET, "cli")
        assert row.detail == {
            "shop_id": shop.pk, "shop": "Acme", "destination": "https://hooks.example:8443", "new_secret": True,
        }  # fmt: skip
        assert secret is not None
        for hidden in (secret, secret.removeprefix("whsec_")[:8], "pathkey9", "querykey7"):
            assert hidden not in row_text(row)

    def test_a_new_url_keeping_the_secret_says_so(self, shop):
        shop_webhook_set(shop=shop, url=KEYED_URL, actor="cli")
        with audited() as rows:
            shop_webhook_set(shop=shop, url="https://[2606:4700:4700::1111]/hook", actor="cli")
        [row] = rows
        assert (row.detail["destination"], row.detail["new_secret"]) == ("https://[2606:4700:4700::1111]", False)

    def test_rotating_is_one_row_naming_neither_secret(self, shop):
        old = shop_webhook_set(shop=shop, url=KEYED_URL, actor="cli")
        with audited() as rows:
            new = shop_webhook_set(shop=shop, rotate_secret=True, actor="user:7")
        [row] = rows
        assert (row.action, row.actor) == (Action.SECRET_ROTATED, "user:7")
        assert row.detail == {"shop_id": shop.pk, "shop": "Acme"}
        assert {old, new} & {None, ""} == set()
        for secret in (old, new):
            assert str(secret) not in row_text(row)

    @pytest.mark.parametrize(
        ("url", "refusal"),
        [("http://169.254.169.254/latest/meta-data/", WebhookUrlForbidden), ("ftp://shop.example/", InvalidInput)],
        ids=["forbidden-destination", "not-http"],
    )
    def test_a_refused_url_writes_no_row_and_changes_nothing(self, shop, settings, url, refusal):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        with audited() as rows, pytest.raises(refusal):
            shop_webhook_set(shop=shop, url=url, actor="cli")
        assert rows == []
        assert Shop.objects.filter(pk=shop.pk, webhook_url="", webhook_secret="").exists()

    def test_an_audit_row_that_cannot_be_written_leaves_the_url_and_secret_as_they_were(self, shop, monkeypatch):
        monkeypatch.setattr("tessera.shop.services.audit_record", audit_fails)
        with pytest.raises(DatabaseError):
            shop_webhook_set(shop=shop, url=KEYED_URL, actor="cli")
        assert Shop.objects.filter(pk=shop.pk, webhook_url="", webhook_secret="").exists()


@pytest.mark.django_db
class TestShopWebhookOff:
    def test_turning_webhooks_off_is_one_row(self, shop):
        secret = shop_webhook_set(shop=shop, url=KEYED_URL, actor="cli")
        with audited() as rows:
            shop_webhook_off(shop=shop, actor="cli")
        [row] = rows
        assert (row.action, row.actor, row.detail) == (Action.WEBHOOK_OFF, "cli", {"shop_id": shop.pk, "shop": "Acme"})
        assert secret
        assert secret not in row_text(row)
        assert Shop.objects.get(pk=shop.pk).webhook_url == ""


@pytest.mark.django_db
class TestShopVouchersCreate:
    def test_the_first_order_of_a_product_logs_the_shops_new_offer_as_made_by_the_shop(self, shop, running_session):
        order = {"shop": shop, "qty": 1, "product": Product.ENROLLMENT, "country": "DE", "session": running_session}
        with audited() as rows:
            first = shop_vouchers_create(**order)
            shop_vouchers_create(**order)
        assert [(row.action, row.actor) for row in rows] == [
            (Action.OFFER_CREATED, "shop:Acme"), (Action.CREATED, "shop:Acme"), (Action.CREATED, "shop:Acme"),
        ]  # fmt: skip
        assert rows[0].detail["offer_id"] == first.offer_id


@pytest.mark.django_db
class TestConfiguration:
    def test_the_first_url_makes_a_secret_and_a_new_url_keeps_it(self, shop_a, private_allowed):
        secret = shop_webhook_set(shop=shop_a.shop, url=URL_A)
        assert secret is not None
        assert SECRET.fullmatch(secret)
        assert shop_webhook_set(shop=shop_a.shop, url="http://127.0.0.1:9000/hook") is None
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == ("http://127.0.0.1:9000/hook", secret)

    def test_rotating_makes_a_new_secret_and_keeps_the_url(self, shop_a, secret_a):
        rotated = shop_webhook_set(shop=shop_a.shop, rotate_secret=True)
        assert rotated not in (None, secret_a)
        assert SECRET.fullmatch(rotated or "")
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, rotated)

    @pytest.mark.parametrize(
        "url",
        ["ftp://shop.example/hook", "shop.example/hook", "https://", "https://shop.example/a b", "javascript:alert(1)",
         "https://shop.example:99999/", "https://bücher.example/", "https://shop.example/" + "x" * 500],
    )  # fmt: skip
    def test_a_url_that_is_not_http_is_refused_and_nothing_changes(self, shop_a, secret_a, url):
        with pytest.raises(InvalidInput) as refused:
            shop_webhook_set(shop=shop_a.shop, url=url)
        assert refused.value.field == "webhook_url"
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, secret_a)
