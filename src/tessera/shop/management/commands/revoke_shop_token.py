from typing import Any

from django.core.management.base import CommandError

from tessera.shop.models import ShopToken
from tessera.shop.services import token_revoke
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Revoke a shop's token, named by its first characters (as listed in the admin)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("shop", help="the shop's name")
        parser.add_argument("prefix", help="the token's first 8 characters")

    def handle(self, *args: Any, shop: str, prefix: str, **opts: Any) -> None:
        tokens = ShopToken.objects.filter(shop__name=shop, prefix=prefix[:8], revoked_at__isnull=True)
        if tokens.count() != 1:
            raise CommandError(f"not_found: {shop!r} has no single live token starting {prefix[:8]!r}.")
        token_revoke(token=tokens.get(), actor="cli")
        self.stdout.write(f"Revoked token {prefix[:8]}… of {shop!r}.")
