"""`tessera create-shop`: a shop and its first token, printed once; both in the audit log."""

import pytest
from django.core.management.base import CommandError

from tessera.shop.models import Shop, ShopToken
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.shop.conftest import BRIDGE, TOKEN

Action = AuditEvent.Action


@pytest.mark.django_db
class TestCreateShop:
    def test_create_shop_prints_a_working_token_once(self, client):
        token = TOKEN.search(run_command("create_shop", "Acme"))[0]
        assert client.get(BRIDGE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        assert not ShopToken.objects.filter(digest=token).exists()

    def test_a_duplicate_shop_is_invalid_input(self):
        run_command("create_shop", "Acme")
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run_command("create_shop", "Acme")
        assert Shop.objects.count() == 1

    def test_create_shop_logs_the_shop_and_its_first_token(self):
        with audited() as rows:
            token = TOKEN.search(run_command("create_shop", "Acme"))[0]
        shop, issued = Shop.objects.get(), ShopToken.objects.get()
        assert [(row.action, row.actor) for row in rows] == [(Action.SHOP_CREATED, "cli"), (Action.TOKEN_ISSUED, "cli")]
        assert rows[1].detail == {"shop_id": shop.pk, "shop": "Acme", "kind": "shop_token", "token_id": issued.pk}
        assert all(token[:8] not in row_text(row) for row in rows)
