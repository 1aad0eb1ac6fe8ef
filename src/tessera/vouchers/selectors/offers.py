"""Reads of offers: one by number, the list, the staff pages' overview with codes issued, and
the offers whose store links a course page shows."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from tessera.catalog.models import Assessment, CourseSession
from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Offer


def offer_numbered(pk: int) -> Offer:
    offer = Offer.objects.select_related("session__course", "assessment__course").filter(pk=pk).first()
    if offer is None:
        raise DoesNotExist(f"There is no offer {pk}.")
    return offer


def offers_listed() -> QuerySet[Offer]:
    return Offer.objects.select_related("session__course", "assessment__course").order_by("-pk")


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


def _on_sale(offers: QuerySet[Offer], now: datetime) -> QuerySet[Offer]:
    """Offers whose store link a page shows: a link, active (auto-subscribe), the sale window open."""
    return (
        offers.filter(auto_subscribe=True)
        .exclude(store_url="")
        .filter(Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now))
        .filter(Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now))
    )


def assessment_offer_on_sale(assessment: Assessment, now: datetime, *, adds_attempts: bool) -> Offer | None:
    """The offer whose store link the assessment's page shows ("No code yet? Buy one"), the
    newest on sale: for a learner who holds the assessment, one that adds attempts (a plain
    code would be refused them); for anyone else, any, plain offers first."""
    offers = _on_sale(Offer.objects.filter(assessment=assessment), now)
    if adds_attempts:
        offers = offers.filter(adds_attempts=True)
    return offers.order_by("adds_attempts", "-created_at", "-pk").first()


def offers_on_sale(session: CourseSession, products: Iterable[str], now: datetime) -> dict[str, Offer]:
    """Per product, the offer whose store link the session's page shows beside that product's
    code field: only offers with a store link that are active (auto-subscribe on, their sale
    window open); the session's own offer before one for any session; the newest among equals.
    A product without such an offer is left out."""
    offers = Offer.objects.filter(Q(session=session) | Q(session__isnull=True), product__in=list(products))
    on_sale = _on_sale(offers, now).order_by(F("session").asc(nulls_last=True), "-created_at", "-pk")
    chosen: dict[str, Offer] = {}
    for offer in on_sale:
        chosen.setdefault(offer.product, offer)
    return chosen
