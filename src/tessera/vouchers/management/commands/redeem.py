from typing import Any

from tessera.catalog.selectors import assessment_by_slug, session_by_slug
from tessera.vouchers.management.base import VoucherCommand, user_named
from tessera.vouchers.models import Product
from tessera.vouchers.services import voucher_redeem


class Command(VoucherCommand):
    help = "Redeem a code for a user in a course session or for an assessment, as the pages do (for support staff)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("code")
        parser.add_argument("--user", required=True, help="username of the learner")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--session", help="course session slug")
        where.add_argument("--assessment", help="assessment slug")
        parser.add_argument("--product", choices=Product.values, help="refuse a code for another product")

    def handle(
        self, *args: Any, code: str, user: str, session: str | None, assessment: str | None, product: str | None,
        **opts: Any,
    ) -> None:  # fmt: skip
        # Staff redeem on a learner's behalf, with no learner's address: not under the learners'
        # rate limits (voucher_redeem, _attempts_limited), so a locked-out learner can be helped.
        redemption = voucher_redeem(
            code=code, user=user_named(user), product=product, limited=False,
            session=session_by_slug(session) if session else None,
            assessment=assessment_by_slug(assessment) if assessment else None,
        )  # fmt: skip
        if redemption.assessment is not None:
            attempts = redemption.attempts
            self.stdout.write(f"Redeemed for {user}: assessment {assessment} ({attempts} attempts given).")
        else:
            self.stdout.write(f"Redeemed for {user}: {redemption.product} in {session}.")
