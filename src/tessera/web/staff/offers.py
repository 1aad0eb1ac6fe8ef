"""Offers per course session, an offer's page with its batches and "Create codes", and the
progress of a batch written in the background.

"Create codes" writes up to `IN_REQUEST_MAX` codes in the request and lands on the batch page;
a larger batch becomes a job for the task worker and lands on the job's page, whose progress
bar htmx refreshes every second.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tessera.core.csvstream import csv_download
from tessera.core.errors import DomainError
from tessera.core.users import user_named
from tessera.vouchers.models import Offer
from tessera.vouchers.overview import batches_overview, job_numbered, jobs_unfinished, offers_overview
from tessera.vouchers.selectors import EXPORT_HEADER, codes_for_export, export_rows, offer_numbered
from tessera.vouchers.services import IN_REQUEST_MAX, batch_create, batch_job_create, offer_create
from tessera.web.staff.access import staff_only
from tessera.web.staff.common import found_or_404
from tessera.web.staff.forms import BatchForm, OfferForm, refusal_shown
from tessera.web.views import see_other


@require_GET
@staff_only
def offer_list(request: HttpRequest) -> HttpResponse:
    session_slug = request.GET.get("session", "")[:50]
    offers = offers_overview(session_slug=session_slug)
    return render(
        request, "web/staff/offers.html", {"offers": offers, "session_slug": session_slug, "section": "offers"}
    )


@require_http_methods(["GET", "HEAD", "POST"])
@staff_only
def offer_new(request: HttpRequest) -> HttpResponse:
    form = OfferForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            offer = offer_create(**form.service_arguments())
        except DomainError as refusal:
            refusal_shown(form, refusal)
        else:
            messages.success(request, f"Offer {offer.name!r} created.")
            return see_other(reverse("staff:offer_detail", args=[offer.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "web/staff/offer_new.html", {"form": form, "section": "offers"}, status=status)


@require_GET
@staff_only
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_page(request, found_or_404(offer_numbered, pk), BatchForm())


@require_POST
@staff_only
def batch_new(request: HttpRequest, pk: int) -> HttpResponse:
    offer = found_or_404(offer_numbered, pk)
    form = BatchForm(request.POST)
    if not form.is_valid():
        return _offer_page(request, offer, form, status=422)
    try:
        return _create_codes(request, offer, form)
    except DomainError as refusal:
        refusal_shown(form, refusal)
        return _offer_page(request, offer, form, status=422)


def _create_codes(request: HttpRequest, offer: Offer, form: BatchForm) -> HttpResponse:
    username = form.cleaned_data["restricted_to"]
    restricted_to = user_named(username, field="restricted_to") if username else None
    arguments = {**form.service_arguments(), "offer": offer, "restricted_to": restricted_to}
    actor = request.user.get_username()
    if form.cleaned_data["count"] > IN_REQUEST_MAX:
        job = batch_job_create(actor=actor, **arguments)
        messages.info(request, f"Writing {job.count:,} codes in the background.")
        return see_other(reverse("staff:job", args=[job.pk]))
    batch = batch_create(actor=actor, **arguments)
    messages.success(request, f"{batch.count:,} codes created.")
    return see_other(reverse("staff:batch_detail", args=[batch.pk]))


def _offer_page(request: HttpRequest, offer: Offer, form: BatchForm, *, status: int = 200) -> HttpResponse:
    context = {
        "offer": offer, "form": form, "batches": batches_overview(offer), "jobs": jobs_unfinished(offer),
        "in_request_max": IN_REQUEST_MAX, "section": "offers",
    }  # fmt: skip
    return render(request, "web/staff/offer_detail.html", context, status=status)


@require_GET
@staff_only
def offer_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    offer = found_or_404(offer_numbered, pk)
    return csv_download(EXPORT_HEADER, export_rows(codes_for_export(offer_id=offer.pk)), f"offer-{offer.pk}.csv")


@require_GET
@staff_only
def job(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/staff/job.html", {"job": found_or_404(job_numbered, pk), "section": "offers"})


@require_GET
@staff_only
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment alone, for htmx to swap in."""
    return render(request, "web/staff/_job_progress.html", {"job": found_or_404(job_numbered, pk)})


urlpatterns = [
    path("offers", offer_list, name="offers"),
    path("offers/new", offer_new, name="offer_new"),
    path("offers/<int:pk>", offer_detail, name="offer_detail"),
    path("offers/<int:pk>/codes", batch_new, name="batch_new"),
    path("offers/<int:pk>/export.csv", offer_export, name="offer_export"),
    path("jobs/<int:pk>", job, name="job"),
    path("jobs/<int:pk>/progress", job_progress, name="job_progress"),
]
