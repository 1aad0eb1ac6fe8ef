from typing import Any

from django.core.management.base import CommandError

from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.models import Batch
from tessera.vouchers.selectors.codes import code_details
from tessera.vouchers.services import batch_revoke, code_revoke


class Command(VoucherCommand):
    help = "Revoke codes, or every code of a batch."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("codes", nargs="*")
        parser.add_argument("--batch", type=int, help="revoke the whole batch")

    def handle(self, *args: Any, codes: list[str], **opts: Any) -> None:
        if not codes and opts["batch"] is None:
            raise CommandError("invalid_input: name codes to revoke, or --batch ID.")
        if opts["batch"] is not None:
            batch = Batch.objects.filter(pk=opts["batch"]).first()
            if batch is None:
                raise CommandError(f"not_found: there is no batch {opts['batch']}.")
            revoked = batch_revoke(batch=batch, actor="cli")
            self.stdout.write(f"Revoked batch {batch.pk}: {revoked:,} codes.")
        # Every code is looked up before any is revoked, so a typo in the list changes nothing.
        for details in [code_details(text) for text in codes]:
            code_revoke(code=details.code, actor="cli")
            self.stdout.write(f"Revoked {details.display}.")
