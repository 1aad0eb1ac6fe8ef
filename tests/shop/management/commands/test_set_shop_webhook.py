"""`tessera set-shop-webhook`: a shop's webhook URL set (its secret printed once), the secret
rotated, webhooks turned off; each is one audit row."""

import re

import pytest
from django.core.management.base import CommandError

from tessera.shop.models import Shop
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.shop.webhooking import (
    SECRET,
    URL_A,
    URL_B,
)


@pytest.mark.django_db
class TestCommand:
    def test_setting_a_url_prints_the_new_secret_once(self, shop_a):
        first = run_command("set_shop_webhook", "Shop A", URL_A)
        [secret] = SECRET.findall(first)
        assert Shop.objects.get(name="Shop A").webhook_secret == secret
        again = run_command("set_shop_webhook", "Shop A", URL_B)
        assert secret not in again
        assert "unchanged" in again

    def test_rotate_secret_prints_a_new_one(self, shop_a, secret_a):
        [rotated] = SECRET.findall(run_command("set_shop_webhook", "Shop A", "--rotate-secret"))
        assert rotated != secret_a
        assert Shop.objects.get(name="Shop A").webhook_secret == rotated

    def test_off_clears_the_url(self, shop_a, secret_a):
        run_command("set_shop_webhook", "Shop A", "--off")
        assert Shop.objects.get(name="Shop A").webhook_url == ""

    def test_a_bad_url_is_invalid_input(self, shop_a):
        with pytest.raises(CommandError, match=r"^invalid_input: The webhook URL must be an http or https URL"):
            run_command("set_shop_webhook", "Shop A", "ftp://shop.example/")
        assert Shop.objects.get(name="Shop A").webhook_url == ""

    def test_an_unknown_shop_is_not_found(self, db):
        with pytest.raises(CommandError, match=r"^not_found: "):
            run_command("set_shop_webhook", "Nobody", URL_A)

    def test_nothing_to_do_is_invalid_input(self, shop_a):
        with pytest.raises(CommandError, match=r"^invalid_input: name a URL"):
            run_command("set_shop_webhook", "Shop A")

    def test_the_command_refuses_with_the_stable_code(self, shop_a):
        with pytest.raises(CommandError, match=r"^webhook_url_forbidden: "):
            run_command("set_shop_webhook", "Shop A", "http://169.254.169.254/latest/meta-data/")
        assert Shop.objects.get(name="Shop A").webhook_url == ""


Action = AuditEvent.Action
HOOK = "https://shop.example/hooks/pathkey9"


def secret_in(text: str) -> str:
    return re.search(r"whsec_\S+", text)[0]


@pytest.mark.django_db
class TestTheAuditLog:
    """Each change is in the audit log under "cli", as the voucher commands' are."""

    def test_set_shop_webhook_logs_the_url_set_the_secret_rotated_and_webhooks_turned_off(self):
        run_command("create_shop", "Acme")
        with audited() as rows:
            first = secret_in(run_command("set_shop_webhook", "Acme", HOOK))
            rotated = secret_in(run_command("set_shop_webhook", "Acme", "--rotate-secret"))
            run_command("set_shop_webhook", "Acme", "--off")
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
        run_command("create_shop", "Acme")
        with audited() as rows, pytest.raises(CommandError, match=r"^webhook_url_forbidden: "):
            run_command("set_shop_webhook", "Acme", "http://169.254.169.254/latest/meta-data/")
        assert rows == []
