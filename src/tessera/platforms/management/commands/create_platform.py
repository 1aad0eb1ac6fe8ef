from typing import Any

from tessera.platforms.models import SCOPES
from tessera.platforms.services import platform_create
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Register a course platform as an OAuth 2.0 client; prints its client id and secret (the secret once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--slug", default="", help="In learner usernames and redeem links (default: from the name)."
        )
        parser.add_argument(
            "--scope", action="append", dest="scopes", choices=list(SCOPES),
            help="A scope its tokens may carry (repeat; default: all of them).",
        )  # fmt: skip
        parser.add_argument("--return-url", action="append", dest="return_urls", default=[],
                            help="A URL prefix redeem links may return to (repeat).")  # fmt: skip

    def handle(self, *args: Any, name: str, slug: str, scopes: list[str] | None, return_urls: list[str],
               **opts: Any) -> None:  # fmt: skip
        credentials = platform_create(
            name=name, slug=slug, scopes=scopes or list(SCOPES), return_urls=return_urls, actor="cli"
        )
        self.stdout.write(
            f"Created platform {credentials.platform.name!r} ({credentials.platform.slug}).\n"
            f"client_id: {credentials.client_id}\nclient_secret (shown only now): {credentials.client_secret}"
        )
