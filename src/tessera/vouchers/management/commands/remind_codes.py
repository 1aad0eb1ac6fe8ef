from typing import Any

from tessera.vouchers.management.base import MailCommand
from tessera.vouchers.services import assignments_remind


class Command(MailCommand):
    help = (
        "Remind everyone of a batch whose mailed code is still unredeemed DAYS days after it was sent "
        "(never twice within DAYS days)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("batch", type=int, help="batch id")
        parser.add_argument("--days", type=int, default=7, help="days since the code was sent (default 7)")
        self.add_now(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        batch = self.batch_named(opts["batch"])
        self.report(assignments_remind(batch=batch, days=opts["days"], actor="cli"), now=opts["now"], what="reminders")
