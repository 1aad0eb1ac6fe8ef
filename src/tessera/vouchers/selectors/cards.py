"""What a batch's printed cards say: the codes to print, read in chunks, and the words around them."""

from collections.abc import Iterator
from contextlib import nullcontext

from django.db import connection, transaction

from tessera.vouchers.models import Batch, Code
from tessera.vouchers.paging import UNUSED, USE_FILTERS
from tessera.vouchers.selectors.codes import display_code

# The one selection cards take, as the batch page's filter names it: codes never used.
CARD_SELECTIONS = ("", UNUSED)


def codes_to_print(batch: Batch, *, uses: str = "", chunk_size: int = 2000) -> Iterator[str]:
    """The batch's codes as printed (grouped, with the check symbol), in code order; only the
    never-used ones with `uses="unused"`. Read in chunks along the (batch_id, code) index, inside
    a transaction on PostgreSQL for the reason export_rows gives (exports.py)."""
    codes = Code.objects.filter(batch_id=batch.pk).order_by("code")
    if uses:
        codes = codes.filter(USE_FILTERS[uses])
    with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
        for code in codes.values_list("code", flat=True).iterator(chunk_size=chunk_size):
            yield display_code(code, batch.prefix)


def card_title(batch: Batch) -> tuple[str, str]:
    """The card's title and the line under it: the course session and the product, the assessment
    and the offer's name, or, for an offer valid in any session, the offer's name."""
    offer = batch.offer
    if offer.assessment is not None:
        return offer.assessment.title, f"{offer.get_product_display()} ({offer.name})"
    if offer.session is None:
        return offer.name, f"{offer.get_product_display()}, for any course"
    return str(offer.session), f"{offer.get_product_display()} ({offer.name})"


def card_expiry(batch: Batch) -> str:
    if batch.expires_at is None:
        return "Does not expire"
    return f"Redeem by {batch.expires_at:%Y-%m-%d %H:%M} UTC"
