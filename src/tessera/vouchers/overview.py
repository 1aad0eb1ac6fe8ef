"""Reads for the staff pages' overviews: offers with the codes they issued, an offer's batches
with how many codes were used, and the background jobs still writing codes."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Batch, BatchJob, Code, Offer


def offers_overview(*, session_slug: str = "") -> QuerySet[Offer]:
    """Offers by course and session (offers for any session last), with batches and codes issued."""
    offers = Offer.objects.select_related("session__course").annotate(
        batch_count=Count("batches"), issued=Coalesce(Sum("batches__count"), 0)
    )
    if session_slug:
        offers = offers.filter(session__slug=session_slug)
    return offers.order_by("session__course__title", "session__starts_at", "name", "pk")


def batches_overview(offer: Offer) -> QuerySet[Batch]:
    """The offer's batches, newest first, each with its count of used codes (from the partial
    index of used codes, so unused codes are never read)."""
    used = (
        Code.objects.filter(batch=OuterRef("pk"), uses__gt=0)
        .order_by()
        .values("batch")
        .annotate(used=Count("*"))
        .values("used")
    )
    return (
        offer.batches.select_related("restricted_to")
        .annotate(used=Coalesce(Subquery(used, output_field=IntegerField()), 0))
        .order_by("-pk")
    )


def jobs_unfinished(offer: Offer) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(offer=offer, status__in=[BatchJob.Status.QUEUED, BatchJob.Status.RUNNING])


def job_numbered(pk: int) -> BatchJob:
    job = BatchJob.objects.select_related("offer", "batch").filter(pk=pk).first()
    if job is None:
        raise DoesNotExist(f"There is no batch job {pk}.")
    return job
