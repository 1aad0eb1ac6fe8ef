"""Offers per course session, an offer's page with its batches, "Create codes" and "Import codes",
and the progress of a batch written in the background.

"Create codes" writes up to `IN_REQUEST_MAX` codes in the request and lands on the batch page;
a larger batch becomes a job for the task worker and lands on the job's page, whose progress
bar htmx refreshes every second. "Import codes" takes a CSV file of up to `IN_REQUEST_MAX` codes
made elsewhere and lands on the new batch's page; a larger file is refused with a pointer to
`tessera import-codes` (services.imports says why there is no job for it).
"""

from functools import partial

from django.contrib import messages
from django.core.validators import slug_re
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tessera.core.csvstream import csv_download
from tessera.core.errors import DomainError
from tessera.core.users import user_named
from tessera.vouchers.audit import actor_of
from tessera.vouchers.errors import CodesRefused
from tessera.vouchers.models import Batch, BatchJob, Offer
from tessera.vouchers.selectors.batches import batches_overview, job_numbered, jobs_unfinished
from tessera.vouchers.selectors.exports import EXPORT_HEADER, batches_for_export, export_rows
from tessera.vouchers.selectors.offers import offer_numbered, offers_overview
from tessera.vouchers.services import IN_REQUEST_MAX, batch_job_requeue, batch_order, codes_import, offer_create
from tessera.web.errors import page_refusal
from tessera.web.responses import see_other
from tessera.web.staff.access import staff_only
from tessera.web.staff.common import found_or_404
from tessera.web.staff.forms import BatchForm, ImportForm, OfferForm, refusal_shown


@staff_only
@require_safe
def offer_list(request: HttpRequest) -> HttpResponse:
    session_slug = request.GET.get("session", "")
    if not slug_re.fullmatch(session_slug):
        session_slug = ""  # no session has it (and PostgreSQL refuses some, such as NUL, in a query)
    offers = offers_overview(session_slug=session_slug)
    return render(
        request, "web/staff/offers.html", {"offers": offers, "session_slug": session_slug, "section": "offers"}
    )


@staff_only
@require_http_methods(["GET", "HEAD", "POST"])
def offer_new(request: HttpRequest) -> HttpResponse:
    form = OfferForm(request.POST if request.method == "POST" else None)
    render_page = partial(render, request, "web/staff/offer_new.html", {"form": form, "section": "offers"})
    if request.method != "POST":
        return render_page(status=200)
    if not form.is_valid():
        return render_page(status=422)
    try:
        offer = offer_create(actor=actor_of(request.user), **form.service_arguments())
    except DomainError as refusal:
        refusal_shown(form, refusal)
        return page_refusal(refusal, render_page, on_form=True)
    messages.success(request, f"Offer “{offer.name}” created.")
    return see_other(reverse("staff:offer_detail", args=[offer.pk]))


@staff_only
@require_safe
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_page(request, found_or_404(offer_numbered, pk), BatchForm())


@staff_only
@require_POST
def batch_new(request: HttpRequest, pk: int) -> HttpResponse:
    offer = found_or_404(offer_numbered, pk)
    form = BatchForm(request.POST)
    if not form.is_valid():
        return _offer_page(request, offer, form, status=422)
    try:
        return _create_codes(request, offer, form)
    except DomainError as refusal:
        refusal_shown(form, refusal)
        return page_refusal(refusal, partial(_offer_page, request, offer, form), on_form=True)


def _create_codes(request: HttpRequest, offer: Offer, form: BatchForm) -> HttpResponse:
    username = form.cleaned_data["restricted_to"]
    restricted_to = user_named(username, field="restricted_to") if username else None
    ordered = batch_order(offer=offer, spec=form.batch_spec(restricted_to), actor=request.user.get_username())
    if isinstance(ordered, BatchJob):
        messages.info(request, f"Writing {ordered.count:,} codes in the background.")
        return see_other(reverse("staff:job", args=[ordered.pk]))
    messages.success(request, f"{ordered.count:,} codes created.")
    return see_other(reverse("staff:batch_detail", args=[ordered.pk]))


@staff_only
@require_POST
def codes_import_view(request: HttpRequest, pk: int) -> HttpResponse:
    offer = found_or_404(offer_numbered, pk)
    form = ImportForm(request.POST, request.FILES)
    page = partial(_offer_page, request, offer, BatchForm(), import_form=form)
    if not form.is_valid():
        return page(status=422)
    try:
        batch = _import_codes(request, offer, form)
    except DomainError as refusal:
        refusal_shown(form, refusal)
        refused = refusal if isinstance(refusal, CodesRefused) else None
        return page_refusal(refusal, partial(page, refused=refused), on_form=True)
    messages.success(request, f"{batch.count:,} codes imported.")
    return see_other(reverse("staff:batch_detail", args=[batch.pk]))


def _import_codes(request: HttpRequest, offer: Offer, form: ImportForm) -> Batch:
    codes = form.code_list(most=IN_REQUEST_MAX)
    username = form.cleaned_data["restricted_to"]
    restricted_to = user_named(username, field="restricted_to") if username else None
    spec = form.settings_spec(restricted_to, count=len(codes.codes))
    return codes_import(offer=offer, codes=codes, spec=spec, actor=request.user.get_username())


def _offer_page(
    request: HttpRequest, offer: Offer, form: BatchForm, *, import_form: ImportForm | None = None,
    refused: CodesRefused | None = None, status: int = 200,
) -> HttpResponse:  # fmt: skip
    context = {
        "offer": offer, "form": form, "import_form": import_form or ImportForm(), "refused": refused,
        "batches": batches_overview(offer), "jobs": jobs_unfinished(offer), "in_request_max": f"{IN_REQUEST_MAX:,}",
        "section": "offers",
    }  # fmt: skip
    return render(request, "web/staff/offer_detail.html", context, status=status)


@staff_only
@require_safe
def offer_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    offer = found_or_404(offer_numbered, pk)
    return csv_download(EXPORT_HEADER, export_rows(batches_for_export(offer_id=offer.pk)), f"offer-{offer.pk}.csv")


@staff_only
@require_safe
def job(request: HttpRequest, pk: int) -> HttpResponse:
    return _job_page(request, found_or_404(job_numbered, pk), "web/staff/job.html")


@staff_only
@require_safe
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment alone, for htmx to swap in."""
    return _job_page(request, found_or_404(job_numbered, pk), "web/staff/_job_progress.html")


@staff_only
@require_POST
def job_requeue(request: HttpRequest, pk: int) -> HttpResponse:
    job = found_or_404(job_numbered, pk)
    try:
        batch_job_requeue(job=job)
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.info(request, f"Writing {job.count:,} codes in the background again.")
    return see_other(reverse("staff:job", args=[job.pk]))


def _job_page(request: HttpRequest, job: BatchJob, template: str) -> HttpResponse:
    context = {"job": job, "stalled": job.is_stalled(timezone.now()), "section": "offers"}
    return render(request, template, context)


urlpatterns = [
    path("offers", offer_list, name="offers"),
    path("offers/new", offer_new, name="offer_new"),
    path("offers/<int:pk>", offer_detail, name="offer_detail"),
    path("offers/<int:pk>/codes", batch_new, name="batch_new"),
    path("offers/<int:pk>/imports", codes_import_view, name="codes_import"),
    path("offers/<int:pk>/export.csv", offer_export, name="offer_export"),
    path("jobs/<int:pk>", job, name="job"),
    path("jobs/<int:pk>/progress", job_progress, name="job_progress"),
    path("jobs/<int:pk>/requeue", job_requeue, name="job_requeue"),
]
