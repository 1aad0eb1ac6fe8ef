from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import CommandError

from tessera.catalog.selectors import assessment_by_slug, session_by_slug
from tessera.vouchers.management.base import VoucherCommand, parse_moment
from tessera.vouchers.models import Product
from tessera.vouchers.services import offer_create


class Command(VoucherCommand):
    help = "Create an offer (seed 000's event): a product of a course session, or an assessment, sold through codes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--product", required=True, help=", ".join(Product.values))
        parser.add_argument("--session", help="course session slug (omit: any session offering it)")
        parser.add_argument("--assessment", help="assessment slug (product assessment only)")
        parser.add_argument("--attempts", type=int, help="attempts one code gives (default: the assessment's)")
        parser.add_argument(
            "--adds-attempts", action="store_true", help="a learner holding the assessment gets the attempts added"
        )
        parser.add_argument("--price", default="0")
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--sale-starts")
        parser.add_argument("--sale-ends")
        parser.add_argument("--store-url", default="", help="where learners buy a code (http or https)")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            price = Decimal(opts["price"])
        except InvalidOperation:
            raise CommandError(f"invalid_input: price {opts['price']!r} is not a number.") from None
        offer = offer_create(
            name=opts["name"], product=opts["product"], price=price, currency=opts["currency"],
            store_url=opts["store_url"],
            session=session_by_slug(opts["session"]) if opts["session"] else None,
            assessment=assessment_by_slug(opts["assessment"]) if opts["assessment"] else None,
            attempts=opts["attempts"], adds_attempts=opts["adds_attempts"],
            sale_starts_at=parse_moment(opts["sale_starts"], field="sale-starts") if opts["sale_starts"] else None,
            sale_ends_at=parse_moment(opts["sale_ends"], field="sale-ends") if opts["sale_ends"] else None,
            actor="cli",
        )  # fmt: skip
        self.stdout.write(f"Created offer {offer.pk}: {offer}.")
