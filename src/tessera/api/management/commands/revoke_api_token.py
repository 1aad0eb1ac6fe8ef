from typing import Any

from django.core.management.base import CommandError

from tessera.api.models import ApiToken
from tessera.api.services import api_token_revoke
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = "Revoke platform API tokens by the prefix shown at creation (or all of a user's with --user)."

    def add_arguments(self, parser: Any) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("prefix", nargs="?", help="the token's first 8 characters")
        target.add_argument("--user", help="revoke every live token of this username")

    def handle(self, *args: Any, prefix: str | None, user: str | None, **opts: Any) -> None:
        live = ApiToken.objects.filter(revoked_at__isnull=True)
        tokens = list(live.filter(user__username=user) if user else live.filter(prefix=prefix).select_related("user"))
        if not tokens:
            raise CommandError("not_found: no live API token matches.")
        if prefix and len(tokens) > 1:
            # Prefixes are short enough to collide; a guess at which one was meant revokes a stranger's.
            users = ", ".join(sorted({token.user.username for token in tokens}))
            raise CommandError(
                f"invalid_input: {len(tokens)} tokens begin with {prefix}; revoke none of them by prefix, "
                f"but with --user or in the admin. They belong to: {users}."
            )
        for token in tokens:
            api_token_revoke(token=token, actor="cli")
        self.stdout.write(f"Revoked {len(tokens)} API token(s).")
