"""`tessera revoke-shop-token`: a shop's token by its prefix; a prefix two live tokens share revokes
none."""

import pytest
from django.core.management.base import CommandError

from tessera.shop.models import ShopToken
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.shop.conftest import BRIDGE, TOKEN

Action = AuditEvent.Action


@pytest.mark.django_db
class TestRevokeShopToken:
    def test_a_revoked_token_stops_working(self, client):
        token = TOKEN.search(run_command("create_shop", "Acme"))[0]
        run_command("revoke_shop_token", "Acme", token[:8])
        assert client.get(BRIDGE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_revoke_shop_token_logs_the_revoked_token(self):
        token = TOKEN.search(run_command("create_shop", "Acme"))[0]
        with audited() as rows:
            run_command("revoke_shop_token", "Acme", token[:8])
        [row] = rows
        assert (row.action, row.actor, row.detail["token_id"]) == (
            Action.TOKEN_REVOKED,
            "cli",
            ShopToken.objects.get().pk,
        )
        assert token[:8] not in row_text(row)

    def test_a_prefix_two_live_tokens_share_revokes_none_and_logs_nothing(self):
        token = TOKEN.search(run_command("create_shop", "Acme"))[0]
        run_command("create_shop_token", "Acme")
        ShopToken.objects.update(prefix=token[:8])  # as if the random characters had collided
        with audited() as rows, pytest.raises(CommandError, match=r"^not_found: "):
            run_command("revoke_shop_token", "Acme", token[:8])
        assert rows == []
        assert not ShopToken.objects.filter(revoked_at__isnull=False).exists()
