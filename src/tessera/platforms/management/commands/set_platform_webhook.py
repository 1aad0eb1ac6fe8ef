from tessera.platforms.delivery import platform_webhook_off, platform_webhook_set
from tessera.platforms.models import Platform
from tessera.platforms.selectors import platform_by_slug
from tessera.vouchers.management.base import WebhookCommand


class Command(WebhookCommand):
    help = "Point a platform's event webhooks at a URL (its signing secret is printed when made), or turn them off."
    receiver = "platform"
    receiver_help = "The platform's slug."
    off_help = "send this platform no more webhooks (the feed stays)"

    def find(self, name: str) -> Platform:
        return platform_by_slug(name)

    def webhook_set(self, found: Platform, *, url: str | None, rotate_secret: bool) -> str | None:
        return platform_webhook_set(platform=found, url=url, rotate_secret=rotate_secret, actor="cli")

    def webhook_off(self, found: Platform) -> None:
        platform_webhook_off(platform=found, actor="cli")
