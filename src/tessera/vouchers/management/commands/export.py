from typing import Any

from django.core.management.base import CommandError

from tessera.core.csvstream import CsvWriter
from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.models import Batch
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows


class Command(VoucherCommand):
    help = "Write codes as CSV, one row per code and redemption, streamed in constant memory."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, help="only this batch")
        parser.add_argument("--offer", type=int, help="only this offer's batches")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args: Any, **opts: Any) -> None:
        batch = None
        if opts["batch"] is not None:
            batch = Batch.objects.filter(pk=opts["batch"]).first()
            if batch is None:
                raise CommandError(f"not_found: there is no batch {opts['batch']}.")
        rows = export_rows(batches_for_export(batch=batch, offer_id=opts["offer"]))
        if opts["output"]:
            with open(opts["output"], "w", newline="", encoding="utf-8") as target:
                count = self._write(target, rows)
            self.stderr.write(f"Wrote {count:,} rows to {opts['output']}.")
        else:
            self._write(self.stdout, rows)

    def _write(self, target: Any, rows: Any) -> int:
        writer = CsvWriter(target)
        writer.writerow(EXPORT_HEADER)
        count = 0
        for count, row in enumerate(rows, start=1):  # noqa: B007 - the last count is the total
            writer.writerow(row)
        return count
