from typing import Any

from tessera.shop.services import shop_create, token_issue
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Create a shop for the bridge API, with its first token (shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, name: str, **opts: Any) -> None:
        shop = shop_create(name=name, actor="cli")
        _, plaintext = token_issue(shop=shop, label="first", actor="cli")
        self.stdout.write(f"Created shop {shop.name!r}. Its bearer token, shown only now:\n{plaintext}")
