from typing import Any

from django.core.management.base import CommandError

from tessera.shop.models import Shop
from tessera.shop.services import shop_webhook_off, shop_webhook_set
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Point a shop's webhooks at a URL (its signing secret is printed when made), or turn them off."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("shop", help="the shop's name")
        parser.add_argument("url", nargs="?", help="http or https URL the events are POSTed to")
        parser.add_argument("--rotate-secret", action="store_true", help="make a new signing secret")
        parser.add_argument("--off", action="store_true", help="send this shop no more webhooks")

    def handle(self, *args: Any, shop: str, url: str | None, rotate_secret: bool, off: bool, **opts: Any) -> None:
        found = Shop.objects.filter(name=shop).first()
        if found is None:
            raise CommandError(f"not_found: there is no shop {shop!r}.")
        if off:
            if url is not None or rotate_secret:
                raise CommandError("invalid_input: --off takes no URL and no --rotate-secret.")
            shop_webhook_off(shop=found, actor="cli")
            self.stdout.write(f"Webhooks to {found.name!r} are off.")
            return
        if url is None and not rotate_secret:
            raise CommandError("invalid_input: name a URL, --rotate-secret or --off.")
        secret = shop_webhook_set(shop=found, url=url, rotate_secret=rotate_secret, actor="cli")
        self.stdout.write(f"Webhooks to {found.name!r} go to {found.webhook_url or '(no URL yet)'}.")
        if secret:
            self.stdout.write(f"Its signing secret, shown only now:\n{secret}")
        else:
            self.stdout.write("Its signing secret is unchanged (--rotate-secret makes a new one).")
