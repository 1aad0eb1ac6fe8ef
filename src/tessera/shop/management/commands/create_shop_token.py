from typing import Any

from django.core.management.base import CommandError

from tessera.shop.models import Shop
from tessera.shop.services import token_issue
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Issue another bearer token for a shop (shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("shop", help="the shop's name")
        parser.add_argument("--label", default="")

    def handle(self, *args: Any, shop: str, label: str, **opts: Any) -> None:
        found = Shop.objects.filter(name=shop).first()
        if found is None:
            raise CommandError(f"not_found: there is no shop {shop!r}.")
        token, plaintext = token_issue(shop=found, label=label, actor="cli")
        self.stdout.write(f"Token {token.prefix}… for {found.name!r}, shown only now:\n{plaintext}")
