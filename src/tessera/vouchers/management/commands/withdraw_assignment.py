from typing import Any

from tessera.vouchers.management.base import MailCommand
from tessera.vouchers.selectors.assignments import assignment_numbered
from tessera.vouchers.services import Recipient, assignment_withdraw


class Command(MailCommand):
    help = (
        "Withdraw a code sent to a recipient: its code is revoked, so the mailed code stops working; "
        "--to sends a fresh code of the batch to another address."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("assignment", type=int, help="assignment id")
        parser.add_argument("--to", help="send a fresh code of the same batch to this address")
        parser.add_argument("--name", default="", help="the new recipient's name")
        parser.add_argument("--language", default="", help='the new recipient\'s language, e.g. "de"')
        self.add_now(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        assignment = assignment_numbered(opts["assignment"])
        replacement = Recipient(1, opts["to"], opts["name"], opts["language"]) if opts["to"] else None
        job = assignment_withdraw(assignment=assignment, actor="cli", replacement=replacement)
        self.stdout.write(f"Withdrew assignment {assignment.pk}: code {assignment.code_id} is revoked.")
        if replacement is not None:
            self.report(job, now=opts["now"], what="codes")
