from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from tessera.vouchers.errors import RecipientsRefused
from tessera.vouchers.management.base import MailCommand
from tessera.vouchers.services import Recipient, assignments_create, recipients_from_text


class Command(MailCommand):
    help = (
        "Send a code of a batch to each recipient of a CSV file (email[,name[,language]], a header line "
        "or none) or a list of addresses, one a line; all or nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("batch", type=int, help="batch id")
        parser.add_argument("file", help="CSV file or list of addresses, UTF-8")
        self.add_now(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        batch = self.batch_named(opts["batch"])
        path = Path(opts["file"])
        try:
            job = assignments_create(batch=batch, recipients=_read(path), actor="cli", source=path.name)
        except RecipientsRefused as refused:
            for problem in refused.problems:
                self.stderr.write(str(problem))
            raise
        self.report(job, now=opts["now"], what="codes")


def _read(path: Path) -> list[Recipient]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return recipients_from_text(file, source=path.name)
    except OSError as error:
        raise CommandError(f"invalid_input: cannot read {path}: {error.strerror}.") from None
