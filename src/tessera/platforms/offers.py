"""Offers and batches of codes for a platform's sessions: the vouchers services, reached only
through the calling platform. An offer is the platform's when its session is one of the
platform's sessions; another platform's session, offer or batch is not found."""

from datetime import datetime
from decimal import Decimal

from tessera.catalog.models import CourseSession
from tessera.core.errors import InvalidInput
from tessera.platforms.learner_selectors import session_by_external_id
from tessera.platforms.models import Platform
from tessera.platforms.selectors import platform_offer
from tessera.vouchers.models import Batch, Offer
from tessera.vouchers.services import BatchSpec, batch_create_in_request, offer_create


def platform_offer_create(
    *,
    platform: Platform,
    session: str,
    name: str,
    product: str,
    price: Decimal = Decimal("0"),
    currency: str = "EUR",
    sale_starts_at: datetime | None = None,
    sale_ends_at: datetime | None = None,
    auto_subscribe: bool = True,
    store_url: str = "",
    actor: str,
) -> Offer:
    """An offer of `product` for the platform's session `session` (its external id)."""
    mapping = session_by_external_id(platform, session)
    _check_not_archived(mapping.session, field="session")
    return offer_create(
        name=name, product=product, session=mapping.session, price=price, currency=currency,
        sale_starts_at=sale_starts_at, sale_ends_at=sale_ends_at, auto_subscribe=auto_subscribe,
        store_url=store_url, actor=actor,
    )  # fmt: skip


def platform_batch_create(*, platform: Platform, offer_id: int, spec: BatchSpec, actor: str) -> Batch:
    """A batch of codes for one of the platform's offers, written now (up to IN_REQUEST_MAX)."""
    offer = platform_offer(platform, offer_id)
    _check_not_archived(offer.session, field="offer")  # type: ignore[arg-type]  # a platform's offer has one
    return batch_create_in_request(offer=offer, spec=spec, actor=actor)


def _check_not_archived(session: CourseSession, *, field: str) -> None:
    """Codes for an archived session could never be redeemed (tessera.platforms.catalog)."""
    if session.state == CourseSession.State.ARCHIVED:
        raise InvalidInput("This course session is archived: no code for it can be redeemed.", field=field)
