"""Reads of batches: one by number, an offer's batches (plain, or with their used codes counted
for the staff pages), and the background jobs writing an offer's codes."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Batch, BatchJob, Code, Offer


def batch_numbered(pk: int) -> Batch:
    batch = Batch.objects.select_related("offer", "restricted_to").filter(pk=pk).first()
    if batch is None:
        raise DoesNotExist(f"There is no batch {pk}.")
    return batch


def batches_of(offer: Offer) -> QuerySet[Batch]:
    return offer.batches.select_related("offer", "restricted_to").order_by("-pk")


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
