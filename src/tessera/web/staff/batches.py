"""A batch's page: its facts and totals, its codes a page at a time (search by the first
symbols, filter by use), the CSV of its codes, its codes as printable cards, and revoking it."""

from functools import partial

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from tessera.core.csvstream import csv_download
from tessera.core.errors import InvalidInput
from tessera.vouchers.models import Batch
from tessera.vouchers.paging import USE_FILTERS, CodePage, batch_code_page, batch_totals, cursor, search_prefix
from tessera.vouchers.selectors.batches import batch_numbered
from tessera.vouchers.selectors.cards import CARD_SELECTIONS
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows
from tessera.vouchers.services import batch_revoke
from tessera.web.cards import cards_download
from tessera.web.errors import page_refusal
from tessera.web.responses import see_other
from tessera.web.staff.access import staff_only
from tessera.web.staff.common import found_or_404


@staff_only
@require_safe
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = found_or_404(batch_numbered, pk)
    query = request.GET
    uses = query.get("uses", "") if query.get("uses") in USE_FILTERS else ""
    context = {"batch": batch, "totals": batch_totals(batch), "q": query.get("q", "")[:100], "uses": uses,
               "section": "offers"}  # fmt: skip
    render_page = partial(render, request, "web/staff/batch_detail.html")
    try:
        search = search_prefix(query.get("q", ""), imported=batch.imported)
    except InvalidInput as refusal:
        no_codes = CodePage(rows=[], after=None, before=None)
        return page_refusal(refusal, partial(render_page, {**context, "page": no_codes, "problem": refusal.message}))
    page = batch_code_page(
        batch, now=timezone.now(), search=search, uses=uses,
        after=cursor(query.get("after", "")), before=cursor(query.get("before", "")),
    )  # fmt: skip
    return render_page({**context, "page": page, "problem": None}, status=200)


@staff_only
@require_safe
def batch_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    batch: Batch = found_or_404(batch_numbered, pk)
    return csv_download(EXPORT_HEADER, export_rows(batches_for_export(batch=batch)), f"batch-{batch.pk}.csv")


@staff_only
@require_safe
def batch_cards(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The batch's codes as a PDF of cards to print; ?uses=unused: only the codes never used."""
    batch = found_or_404(batch_numbered, pk)
    uses = request.GET.get("uses", "")
    return cards_download(batch, request=request, uses=uses if uses in CARD_SELECTIONS else "")


@staff_only
@require_POST
def batch_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    batch = found_or_404(batch_numbered, pk)
    revoked = batch_revoke(batch=batch, actor=request.user.get_username())
    codes = "code" if revoked == 1 else "codes"
    messages.success(request, f"Batch {batch.pk} is revoked: {revoked} more {codes} cannot be redeemed.")
    return see_other(reverse("staff:batch_detail", args=[batch.pk]))


urlpatterns = [
    path("batches/<int:pk>", batch_detail, name="batch_detail"),
    path("batches/<int:pk>/export.csv", batch_export, name="batch_export"),
    path("batches/<int:pk>/cards.pdf", batch_cards, name="batch_cards"),
    path("batches/<int:pk>/revoke", batch_revoke_view, name="batch_revoke"),
]
