from typing import Any

from tessera.platforms.selectors import platform_by_slug
from tessera.platforms.services import platform_secret_rotate
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Give a platform a new client secret (shown once); the old secret and its access tokens stop working."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("platform", help="The platform's slug.")

    def handle(self, *args: Any, platform: str, **opts: Any) -> None:
        credentials = platform_secret_rotate(platform=platform_by_slug(platform), actor="cli")
        self.stdout.write(
            f"client_id: {credentials.client_id}\nclient_secret (shown only now): {credentials.client_secret}"
        )
