import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from tessera.vouchers.errors import CodesRefused
from tessera.vouchers.management.base import VoucherCommand, parse_moment, user_named
from tessera.vouchers.models import Batch, Offer
from tessera.vouchers.services import BatchSpec, CodeList, codes_from_csv, codes_import

PROGRESS_FROM = 10_000


class Command(VoucherCommand):
    help = (
        "Import codes made elsewhere for an offer from a CSV file (one code a line, in the first column), "
        "up to 1,000,000; all or nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="CSV file, UTF-8; a first line whose first cell is 'code' is a header")
        parser.add_argument("--offer", type=int, required=True, help="offer id")
        parser.add_argument("--uses", type=int, default=1, help="uses per code (default 1)")
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. DE")
        parser.add_argument("--expires", help="expiry, YYYY-MM-DD (through that day, UTC) or ISO date-time")
        parser.add_argument("--tag", default="untagged")
        parser.add_argument("--user", help="restrict the codes to this username")
        parser.add_argument("--note", default="")
        parser.add_argument("--refund-policy", choices=Batch.RefundPolicy.values, default=Batch.RefundPolicy.RETURN_USE)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        offer = Offer.objects.filter(pk=opts["offer"]).first()
        if offer is None:
            raise CommandError(f"not_found: there is no offer {opts['offer']}.")
        started = time.perf_counter()
        codes = _read(Path(opts["file"]))
        bar = None
        if not opts["no_progress"] and len(codes.codes) >= PROGRESS_FROM:
            bar = tqdm(total=len(codes.codes), unit="code", file=self.stderr)
        try:
            batch = codes_import(
                offer=offer, codes=codes, spec=_spec(opts, count=len(codes.codes)), actor="cli",
                progress=bar.update if bar else None,
            )  # fmt: skip
        except CodesRefused as refused:
            self._list(refused)
            raise
        finally:
            if bar:
                bar.close()
        seconds = time.perf_counter() - started
        self.stdout.write(f"Imported batch {batch.pk}: {batch.count:,} codes for {offer} in {seconds:.2f} s.")

    def _list(self, refused: CodesRefused) -> None:
        """Every listed line to fix, one a line, before the error that sums them up."""
        for problem in refused.problems:
            self.stderr.write(str(problem))
        unlisted = refused.problem_count - len(refused.problems)
        if unlisted:
            self.stderr.write(f"... and {unlisted:,} more.")


def _read(path: Path) -> CodeList:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return codes_from_csv(file, source=path.name)
    except OSError as error:
        raise CommandError(f"invalid_input: cannot read {path}: {error.strerror}.") from None


def _spec(opts: dict[str, Any], *, count: int) -> BatchSpec:
    return BatchSpec(
        count=count, uses_per_code=opts["uses"], country=opts["country"],
        expires_at=parse_moment(opts["expires"], field="expires") if opts["expires"] else None,
        tag=opts["tag"], note=opts["note"], restricted_to=user_named(opts["user"]) if opts["user"] else None,
        refund_policy=opts["refund_policy"],
    )  # fmt: skip
