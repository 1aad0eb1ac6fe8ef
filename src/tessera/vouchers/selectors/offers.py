"""Reads of offers: one by number, the list, the staff pages' overview with codes issued, and
the offers whose store links a course page shows."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from tessera.catalog.models import CourseSession
from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Offer


def offer_numbered(pk: int) -> Offer:
    offer = Offer.objects.select_related("session__course", "assessment__course").filter(pk=pk).first()
    if offer is None:
        raise DoesNotExist(f"There is no offer {pk}.")
    return offer


def offers_listed() -> QuerySet[Offer]:
    return Offer.objects.select_related("session__course", "assessment").order_by("-pk")


def offers_overview(*, session_slug: str = "") -> QuerySet[Offer]:
    """Offers by course and session (offers for any session last), then assessment offers by
    assessment, with batches and codes issued."""
    offers = Offer.objects.select_related("session__course", "assessment__course").annotate(
        batch_count=Count("batches"), issued=Coalesce(Sum("batches__count"), 0)
    )
    if session_slug:
        offers = offers.filter(session__slug=session_slug)
    return offers.order_by(
        F("assessment__title").asc(nulls_first=True), "assessment_id", "session__course__title", "session__starts_at",
        "name", "pk",
    )  # fmt: skip


def offers_on_sale(session: CourseSession, products: Iterable[str], now: datetime) -> dict[str, Offer]:
    """Per product, the offer whose store link the session's page shows beside that product's
    code field: only offers with a store link that are active (auto-subscribe on, their sale
    window open); the session's own offer before one for any session; the newest among equals.
    A product without such an offer is left out."""
    on_sale = (
        Offer.objects.filter(Q(session=session) | Q(session__isnull=True), product__in=list(products))
        .filter(auto_subscribe=True)
        .exclude(store_url="")
        .filter(Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now))
        .filter(Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now))
        .order_by(F("session").asc(nulls_last=True), "-created_at", "-pk")
    )
    chosen: dict[str, Offer] = {}
    for offer in on_sale:
        chosen.setdefault(offer.product, offer)
    return chosen
