from typing import Any

from django.core.management.base import CommandError

from tessera.platform.models import ApiToken
from tessera.platform.services import api_token_revoke
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Revoke platform API tokens by the prefix shown at creation (or all of a user's with --user)."

    def add_arguments(self, parser: Any) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("prefix", nargs="?", help="the token's first 8 characters")
        target.add_argument("--user", help="revoke every live token of this username")

    def handle(self, *args: Any, prefix: str | None, user: str | None, **opts: Any) -> None:
        live = ApiToken.objects.filter(revoked_at__isnull=True)
        tokens = list(live.filter(user__username=user) if user else live.filter(prefix=prefix))
        if not tokens:
            raise CommandError("not_found: no live API token matches.")
        for token in tokens:
            api_token_revoke(token=token)
        self.stdout.write(f"Revoked {len(tokens)} API token(s).")
