from typing import Any

from django.core.management.base import CommandError

from tessera.core.cardpdf import write_cards
from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.models import Batch
from tessera.vouchers.paging import UNUSED
from tessera.web.cards import batch_cards, public_base


class Command(VoucherCommand):
    help = (
        "Write a batch's codes as a PDF of cards to print, ten to an A4 page, each with its QR code. "
        "The links start with TESSERA_PUBLIC_URL."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("batch", type=int, help="the batch's number")
        parser.add_argument("--output", "-o", required=True, help="the PDF file to write")
        parser.add_argument("--unused", action="store_true", help="only the codes never used")

    def handle(self, *args: Any, batch: int, output: str, unused: bool, **opts: Any) -> None:
        found = Batch.objects.select_related("offer").filter(pk=batch).first()
        if found is None:
            raise CommandError(f"not_found: there is no batch {batch}.")
        base = public_base()
        if not base:
            raise CommandError("invalid_input: set TESSERA_PUBLIC_URL, the address the cards' QR codes lead to.")
        cards = batch_cards(found, base=base, uses=UNUSED if unused else "")
        with open(output, "wb") as target:
            pages = write_cards(cards, target)
        self.stderr.write(f"Wrote {pages:,} page{'s' if pages != 1 else ''} of cards to {output}.")
