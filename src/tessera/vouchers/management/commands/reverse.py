from typing import Any

from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.selectors.codes import code_details, live_redemption
from tessera.vouchers.services import redemption_reverse


class Command(VoucherCommand):
    help = "Reverse (refund) a user's redemption of a code: the entitlement ends."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("code")
        parser.add_argument("--user", required=True, help="username of the redeemer")
        use = parser.add_mutually_exclusive_group()
        use.add_argument("--give-back-use", action="store_true", default=None, dest="give_back")
        use.add_argument("--keep-use", action="store_false", dest="give_back")

    def handle(self, *args: Any, code: str, user: str, give_back: bool | None, **opts: Any) -> None:
        details = code_details(code)
        redemption_reverse(redemption=live_redemption(details, user), actor="cli", give_back_use=give_back)
        self.stdout.write(f"Reversed {user}'s redemption of {details.display}.")
