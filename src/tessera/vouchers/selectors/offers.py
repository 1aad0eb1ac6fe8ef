"""Reads of offers: one by number, the list, and the staff pages' overview with codes issued."""

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Offer


def offer_numbered(pk: int) -> Offer:
    offer = Offer.objects.select_related("session__course").filter(pk=pk).first()
    if offer is None:
        raise DoesNotExist(f"There is no offer {pk}.")
    return offer


def offers_listed() -> QuerySet[Offer]:
    return Offer.objects.select_related("session__course").order_by("-pk")


def offers_overview(*, session_slug: str = "") -> QuerySet[Offer]:
    """Offers by course and session (offers for any session last), with batches and codes issued."""
    offers = Offer.objects.select_related("session__course").annotate(
        batch_count=Count("batches"), issued=Coalesce(Sum("batches__count"), 0)
    )
    if session_slug:
        offers = offers.filter(session__slug=session_slug)
    return offers.order_by("session__course__title", "session__starts_at", "name", "pk")
