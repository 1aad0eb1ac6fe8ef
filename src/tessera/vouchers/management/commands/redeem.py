from typing import Any

from tessera.catalog.selectors import session_by_slug
from tessera.vouchers.management.base import VoucherCommand, user_named
from tessera.vouchers.models import Product
from tessera.vouchers.services import voucher_redeem


class Command(VoucherCommand):
    help = "Redeem a code for a user in a course session, as the course page does (for support staff)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("code")
        parser.add_argument("--user", required=True, help="username of the learner")
        parser.add_argument("--session", required=True, help="course session slug")
        parser.add_argument("--product", choices=Product.values, help="refuse a code for another product")

    def handle(self, *args: Any, code: str, user: str, session: str, product: str | None, **opts: Any) -> None:
        # Staff redeem on a learner's behalf, with no learner's address: not under the learners'
        # rate limits (voucher_redeem, _attempts_limited), so a locked-out learner can be helped.
        redemption = voucher_redeem(
            code=code, user=user_named(user), session=session_by_slug(session), product=product, limited=False
        )
        self.stdout.write(f"Redeemed for {user}: {redemption.product} in {session}.")
