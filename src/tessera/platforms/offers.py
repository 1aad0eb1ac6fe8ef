"""Offers and batches of codes for a platform's sessions, and their codes sent to recipients: the
vouchers services, reached only through the calling platform. An offer is the platform's when its session is one of the
platform's sessions; another platform's session, offer or batch is not found."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tessera.catalog.models import CourseSession
from tessera.core.errors import InvalidInput
from tessera.platforms.learner_selectors import learner_user, session_by_external_id
from tessera.platforms.models import Platform
from tessera.platforms.selectors import platform_batch, platform_offer
from tessera.vouchers.errors import RecipientProblem, RecipientsRefused
from tessera.vouchers.models import Batch, Offer, SendJob
from tessera.vouchers.services import BatchSpec, Recipient, assignments_create, batch_create_in_request, offer_create


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


@dataclass(frozen=True)
class PlatformRecipient:
    """A recipient as a platform names one: an address, or one of its learners by external id
    (then the address Tessera knows for that learner)."""

    line: int
    email: str = ""
    learner: str = ""
    name: str = ""
    language: str = ""


def platform_assignments_create(
    *, platform: Platform, batch_id: int, recipients: list[PlatformRecipient], actor: str, link_base: str
) -> SendJob:
    """Sends a code of one of the platform's batches to each recipient (assignments_create), a
    learner at the address Tessera knows for them; a learner the platform never named, or one
    without an address, is a line to fix, and nothing is assigned."""
    batch = platform_batch(platform, batch_id)
    resolved, problems = [], []
    for recipient in recipients:
        if bool(recipient.email) == bool(recipient.learner):
            problems.append(
                RecipientProblem(recipient.line, recipient.email, "name an email or a learner, one of the two")
            )
            continue
        email = recipient.email
        if recipient.learner:
            user = learner_user(platform, recipient.learner) if _storable(recipient.learner) else None
            email = user.email if user is not None else ""
            if not email:
                problems.append(
                    RecipientProblem(recipient.line, recipient.learner, "Tessera knows no address for this learner")
                )
                continue
        resolved.append(Recipient(recipient.line, email, recipient.name, recipient.language))
    if problems:
        raise RecipientsRefused(problems, source="the recipients")
    return assignments_create(
        batch=batch, recipients=resolved, actor=actor, source="the recipients", link_base=link_base
    )


def _storable(text: str) -> bool:
    return "\x00" not in text
