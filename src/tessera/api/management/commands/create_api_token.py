from typing import Any

from tessera.api.services import api_token_issue
from tessera.vouchers.management.base import VoucherCommand, user_named


class Command(VoucherCommand):
    help = "Issue a platform API token that acts as the given user (shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--label", default="")

    def handle(self, *args: Any, username: str, label: str, **opts: Any) -> None:
        token, plaintext = api_token_issue(user=user_named(username), label=label, actor="cli")
        self.stdout.write(f"API token {token.prefix}… for {username!r}, shown only now:\n{plaintext}")
