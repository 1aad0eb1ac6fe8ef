"""A batch's codes as printable cards (tessera.core.cardpdf), for the staff batch page, the staff
API and `tessera print-cards`. Here, with the learner pages, because each card leads to one of
them: its QR code holds the code's redeem link (/redeem, docs/platforms.md#redeem-links) when the
offer is for one session. An offer valid in any session has no link that could name the session,
and the redeem page redeems for the session its link names, so those cards lead to the course
list, where the learner picks the course and types the code on its page. An assessment's cards
lead to the assessment's page, where the code is typed.
"""

from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

from tessera.core.cardpdf import Card, CardsPdf
from tessera.vouchers.models import Batch
from tessera.vouchers.selectors.cards import card_expiry, card_title, codes_to_print
from tessera.vouchers.services.mailing import redeem_link_maker


def batch_cards(batch: Batch, *, base: str, uses: str = "") -> Iterator[Card]:
    """One card per code of the batch (only the never-used ones with uses="unused"), in code order.
    `base` is the site's address as learners reach it, without a trailing slash."""
    title, subtitle = card_title(batch)
    expiry = card_expiry(batch)
    link, how_to = _destination(batch, base)
    for code in codes_to_print(batch, uses=uses):
        yield Card(title=title, subtitle=subtitle, code=code, expiry=expiry, how_to=how_to, link=link(code))


def _destination(batch: Batch, base: str) -> tuple[Callable[[str], str], str]:
    """Where a card's QR code leads, as a function of its code (the link a mailed code has too),
    and the line telling how to redeem."""
    session, assessment = batch.offer.session, batch.offer.assessment
    site = base.split("://", 1)[-1]
    link = redeem_link_maker(batch, base=base)
    if assessment is not None:
        return link, f"Go to {site}/assessments/{assessment.slug}, sign in and enter this code."
    if session is None:
        return link, f"Go to {site}/courses, choose your course, sign in and enter this code."
    return link, f"Scan the QR code or go to {site}, sign in and redeem this code."


def public_base(request: HttpRequest | None = None) -> str:
    """The site's address for links that leave it (printed cards): TESSERA_PUBLIC_URL, or else the
    address this request came in at."""
    if settings.TESSERA_PUBLIC_URL:
        return settings.TESSERA_PUBLIC_URL
    return request.build_absolute_uri("/").rstrip("/") if request is not None else ""


def cards_download(batch: Batch, *, request: HttpRequest, uses: str = "") -> StreamingHttpResponse:
    """The batch's cards as a PDF download, sent a page at a time as the cards are laid out and
    the codes read (tessera.core.cardpdf): however large the batch, neither its codes nor its PDF
    are ever all in memory. The codes are read while the response is sent, as the CSV export's."""
    pdf = CardsPdf(batch_cards(batch, base=public_base(request), uses=uses))
    response = StreamingHttpResponse(pdf, content_type="application/pdf")
    suffix = f"-{uses}" if uses else ""
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-cards{suffix}.pdf"'
    return response
