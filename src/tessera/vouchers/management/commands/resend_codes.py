from typing import Any

from tessera.vouchers.management.base import MailCommand
from tessera.vouchers.selectors.assignments import assignment_numbered
from tessera.vouchers.services import assignment_resend, assignments_resend_failed


class Command(MailCommand):
    help = "Send codes again: every failed one of a batch, or one assignment (--assignment)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("batch", type=int, help="batch id")
        parser.add_argument("--assignment", type=int, help="send this assignment's code again, sent or failed")
        self.add_now(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        batch = self.batch_named(opts["batch"])
        if opts["assignment"] is None:
            job = assignments_resend_failed(batch=batch, actor="cli")
        else:
            assignment = assignment_numbered(opts["assignment"], batch=batch)
            job = assignment_resend(assignment=assignment, actor="cli")
        self.report(job, now=opts["now"], what="codes")
