from django.core.management.base import CommandError

from tessera.shop.models import Shop
from tessera.shop.services import shop_webhook_off, shop_webhook_set
from tessera.vouchers.management.base import WebhookCommand


class Command(WebhookCommand):
    help = "Point a shop's webhooks at a URL (its signing secret is printed when made), or turn them off."
    receiver = "shop"
    receiver_help = "the shop's name"
    off_help = "send this shop no more webhooks"

    def find(self, name: str) -> Shop:
        found = Shop.objects.filter(name=name).first()
        if found is None:
            raise CommandError(f"not_found: there is no shop {name!r}.")
        return found

    def webhook_set(self, found: Shop, *, url: str | None, rotate_secret: bool) -> str | None:
        return shop_webhook_set(shop=found, url=url, rotate_secret=rotate_secret, actor="cli")

    def webhook_off(self, found: Shop) -> None:
        shop_webhook_off(shop=found, actor="cli")
