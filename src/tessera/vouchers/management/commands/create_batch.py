import time
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from tessera.vouchers.management.base import VoucherCommand, parse_moment, user_named
from tessera.vouchers.models import Batch, Offer
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import BatchSpec, batch_create

PROGRESS_FROM = 10_000


class Command(VoucherCommand):
    help = "Create a batch of codes for an offer (all or nothing)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--offer", type=int, required=True, help="offer id")
        parser.add_argument("--count", type=int, required=True, help="number of codes, 1 to 1,000,000")
        parser.add_argument("--uses", type=int, default=1, help="uses per code (default 1)")
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. DE")
        parser.add_argument("--expires", help="expiry, YYYY-MM-DD (through that day, UTC) or ISO date-time")
        parser.add_argument("--tag", default="untagged")
        parser.add_argument("--user", help="restrict the codes to this username")
        parser.add_argument("--note", default="")
        parser.add_argument("--prefix", help="code prefix (Crockford base32, up to 8 symbols)")
        parser.add_argument("--refund-policy", choices=Batch.RefundPolicy.values, default=Batch.RefundPolicy.RETURN_USE)
        parser.add_argument("--print-codes", action="store_true", help="print the codes after creating them")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        offer = Offer.objects.filter(pk=opts["offer"]).first()
        if offer is None:
            raise CommandError(f"not_found: there is no offer {opts['offer']}.")
        show_progress = not opts["no_progress"] and opts["count"] >= PROGRESS_FROM
        bar = tqdm(total=opts["count"], unit="code", file=self.stderr) if show_progress else None
        started = time.perf_counter()
        try:
            batch = batch_create(offer=offer, spec=_spec(opts), actor="cli", progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        seconds = time.perf_counter() - started
        self.stdout.write(f"Created batch {batch.pk}: {batch.count:,} codes for {offer} in {seconds:.2f} s.")
        if opts["print_codes"]:
            for code in batch.codes.order_by("code").values_list("code", flat=True).iterator():
                self.stdout.write(display_code(code, batch.prefix))


def _spec(opts: dict[str, Any]) -> BatchSpec:
    return BatchSpec(
        count=opts["count"], uses_per_code=opts["uses"], country=opts["country"],
        expires_at=parse_moment(opts["expires"], field="expires") if opts["expires"] else None,
        tag=opts["tag"], note=opts["note"], prefix=opts["prefix"],
        restricted_to=user_named(opts["user"]) if opts["user"] else None, refund_policy=opts["refund_policy"],
    )  # fmt: skip
