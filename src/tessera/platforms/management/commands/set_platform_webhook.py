from typing import Any

from django.core.management.base import CommandError

from tessera.platforms.delivery import platform_webhook_off, platform_webhook_set
from tessera.platforms.models import Platform
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Point a platform's event webhooks at a URL (its signing secret is printed when made), or turn them off."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("platform", help="The platform's slug.")
        parser.add_argument("url", nargs="?", help="http or https URL the events are POSTed to")
        parser.add_argument("--rotate-secret", action="store_true", help="make a new signing secret")
        parser.add_argument("--off", action="store_true", help="send this platform no more webhooks (the feed stays)")

    def handle(self, *args: Any, platform: str, url: str | None, rotate_secret: bool, off: bool, **opts: Any) -> None:
        found = Platform.objects.filter(slug=platform).first()
        if found is None:
            raise CommandError(f"not_found: no platform with the slug {platform!r}.")
        if off:
            if url is not None or rotate_secret:
                raise CommandError("invalid_input: --off takes no URL and no --rotate-secret.")
            platform_webhook_off(platform=found, actor="cli")
            self.stdout.write(f"Webhooks to {found.name!r} are off.")
            return
        if url is None and not rotate_secret:
            raise CommandError("invalid_input: name a URL, --rotate-secret or --off.")
        secret = platform_webhook_set(platform=found, url=url, rotate_secret=rotate_secret, actor="cli")
        self.stdout.write(f"Webhooks to {found.name!r} go to {found.webhook_url or '(no URL yet)'}.")
        if secret:
            self.stdout.write(f"Its signing secret, shown only now:\n{secret}")
        else:
            self.stdout.write("Its signing secret is unchanged (--rotate-secret makes a new one).")
