"""`tessera create-shop-token`: another token of a shop, printed once, working beside the first."""

import pytest
from django.core.management.base import CommandError

from tessera.shop.models import ShopToken
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.shop.conftest import BRIDGE, TOKEN

Action = AuditEvent.Action


@pytest.mark.django_db
class TestCreateShopToken:
    def test_a_second_token_works_beside_the_first(self, client):
        first = TOKEN.search(run_command("create_shop", "Acme"))[0]
        second = TOKEN.search(run_command("create_shop_token", "Acme", "--label", "backup"))[0]
        assert first != second
        for token in (first, second):
            assert client.get(BRIDGE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    def test_an_unknown_shop_is_not_found(self):
        with pytest.raises(CommandError, match=r"^not_found: "):
            run_command("create_shop_token", "Nobody")

    def test_create_shop_token_logs_the_new_token(self):
        run_command("create_shop", "Acme")
        with audited() as rows:
            token = TOKEN.search(run_command("create_shop_token", "Acme", "--label", "backup"))[0]
        [row] = rows
        assert (row.action, row.actor, row.detail["token_id"]) == (
            Action.TOKEN_ISSUED, "cli", ShopToken.objects.get(label="backup").pk,
        )  # fmt: skip
        assert token[:8] not in row_text(row)
