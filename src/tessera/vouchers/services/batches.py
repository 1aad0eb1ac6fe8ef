"""Offers and batches of codes: creating them, and revoking codes."""

import dataclasses
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from tessera.catalog.models import Assessment, CourseSession
from tessera.core.countries import country_code
from tessera.core.errors import InvalidInput
from tessera.core.validation import fits_decimal, fits_text, one_of
from tessera.vouchers import codes as codebook
from tessera.vouchers import config
from tessera.vouchers.audit import audit_record
from tessera.vouchers.bulk_insert import codes_writer
from tessera.vouchers.errors import InvalidStoreUrl, OfferFrozen, OfferPlaceMismatch
from tessera.vouchers.models import STORE_URL_MAX_LENGTH, AuditEvent, Batch, Code, Offer
from tessera.vouchers.products import ASSESSMENT, SESSION, product_rule
from tessera.vouchers.signals import batch_revoked_in_transaction

MAX_BATCH = 1_000_000
MAX_USES_PER_CODE = 1_000_000
# Codes are generated and written in chunks of this size so a progress bar can move.
CHUNK = 50_000
# A collision with an existing code needs ~2^37 live codes at 75 bits; retrying is for
# correctness, not because it is expected.
ATTEMPTS = 3
# What an offer's codes unlock: once it has codes these stay as they are (OfferFrozen). The rest
# (name, price, store link, sale window) describe the offer and may change at any time.
FROZEN_ONCE_ISSUED = ("product", "session", "assessment", "attempts", "adds_attempts")
STORE_URL_SCHEMES = ("http", "https")

Progress = Callable[[int], object]


def offer_create(
    *,
    name: str,
    product: str,
    session: CourseSession | None = None,
    assessment: Assessment | None = None,
    attempts: int | None = None,
    adds_attempts: bool = False,
    price: Decimal = Decimal("0"),
    currency: str = "EUR",
    sale_starts_at: datetime | None = None,
    sale_ends_at: datetime | None = None,
    auto_subscribe: bool = True,
    store_url: str = "",
    actor: str = "system",
) -> Offer:
    config.require_vouchers()
    offer = Offer(
        name=name.strip(), product=product, session=session, assessment=assessment, attempts=attempts,
        adds_attempts=adds_attempts, price=price, currency=currency.upper(),
        sale_starts_at=sale_starts_at, sale_ends_at=sale_ends_at, auto_subscribe=auto_subscribe,
        store_url=store_url.strip(),
    )  # fmt: skip
    return offer_save(offer=offer, actor=actor)


def offer_save(*, offer: Offer, changed: Iterable[str] = (), actor: str) -> Offer:
    """A new offer, or an offer edited in the admin: only the fields named in `changed` are
    saved and logged, so saving the form unchanged changes and logs nothing. An offer with codes
    keeps its product and what it is for: session, assessment and attempts (OfferFrozen)."""
    config.require_vouchers()
    offer_validate(offer)
    with transaction.atomic():
        if offer._state.adding:
            offer.save()
            audit_record(action=AuditEvent.Action.OFFER_CREATED, actor=actor, **_offer_logged(offer))
        elif fields := sorted(changed):
            _check_not_frozen(offer, fields, lock=True)
            offer.save(update_fields=fields)
            audit_record(action=AuditEvent.Action.OFFER_CHANGED, actor=actor, offer_id=offer.pk, changed=fields)
    return offer


def _offer_logged(offer: Offer) -> dict[str, Any]:
    """What the audit log keeps of a new offer: an assessment offer names its assessment too."""
    logged: dict[str, Any] = {
        "offer_id": offer.pk, "name": offer.name, "product": offer.product,
        "session": offer.session.slug if offer.session else None,
    }  # fmt: skip
    if offer.assessment is not None:
        logged.update(assessment=offer.assessment.slug, attempts=offer.attempts, adds_attempts=offer.adds_attempts)
    return logged


def offer_delete(*, offer: Offer, actor: str) -> None:
    """Only an offer without batches can go (they protect it): the database refuses the rest."""
    with transaction.atomic():
        audit_record(action=AuditEvent.Action.OFFER_DELETED, actor=actor, offer_id=offer.pk, name=offer.name)
        offer.delete()


def offer_frozen_fields(offer: Offer) -> tuple[str, ...]:
    """The fields of a stored offer that can no longer change once it has codes: its product, its
    session or assessment, and the attempts its codes give. The admin shows them read-only;
    offer_save refuses a change of them."""
    return FROZEN_ONCE_ISSUED if not offer._state.adding and offer.batches.exists() else ()


def offer_validate(offer: Offer, *, changed: Iterable[str] = ()) -> None:
    """The rules of a well-formed offer, and of a change of the fields named in `changed` (an
    offer with codes is frozen), shared by offer_save and the admin's offer form."""
    _check_product_offered(offer.product, offer.session)
    _check_assessment(offer)
    config.require_product(offer.product)
    if not offer.name.strip():
        raise InvalidInput("An offer needs a name.", field="name")
    fits_text(Offer, "name", offer.name)
    fits_decimal(Offer, "price", offer.price)
    if offer.price < 0:
        raise InvalidInput("The price cannot be negative.", field="price")
    if not re.fullmatch(r"[A-Z]{3}", offer.currency):
        raise InvalidInput("The currency is a three-letter ISO 4217 code.", field="currency")
    one_of(Offer.PaymentMode, "payment_mode", offer.payment_mode)
    if offer.sale_starts_at and offer.sale_ends_at and offer.sale_ends_at <= offer.sale_starts_at:
        raise InvalidInput("The sale window ends before it starts.", field="sale_ends_at")
    _check_store_url(offer.store_url)
    _check_not_frozen(offer, changed)


def _check_store_url(url: str) -> None:
    """Blank (no link), or an absolute http(s) address that fits the column."""
    if not url:
        return
    if len(url) > STORE_URL_MAX_LENGTH:
        raise InvalidStoreUrl(f"The store link is at most {STORE_URL_MAX_LENGTH} characters.")
    try:
        URLValidator(schemes=STORE_URL_SCHEMES)(url)
    except ValidationError:
        raise InvalidStoreUrl() from None


def _check_not_frozen(offer: Offer, changed: Iterable[str], *, lock: bool = False) -> None:
    """OfferFrozen if `changed` moves the product or session of an offer with codes. `lock` (in
    offer_save's transaction): the offer's row is locked first, which waits for a batch still
    being written for it (its foreign key holds a share lock on the row), so that batch is seen."""
    changed = set(changed)
    touched = [name for name in FROZEN_ONCE_ISSUED if name in changed]
    if offer._state.adding or not touched:
        return
    rows = Offer.objects.filter(pk=offer.pk)
    stored = (rows.select_for_update() if lock else rows).first()
    if stored is None:
        return
    moved = any(stored.serializable_value(name) != offer.serializable_value(name) for name in touched)  # ids for FKs
    if moved and stored.batches.exists():
        raise OfferFrozen()


def _check_assessment(offer: Offer) -> None:
    """An assessment offer names its assessment and no session; no other offer names one. Its
    codes give between one attempt and the assessment's allowance."""
    if product_rule(offer.product).place_kind != ASSESSMENT:
        if offer.assessment_id is not None:
            raise OfferPlaceMismatch(f"A {offer.product} offer is for a course session, not an assessment.")
        if offer.attempts is not None or offer.adds_attempts:
            raise InvalidInput("Only an assessment offer gives attempts.", field="attempts")
        return
    if offer.session_id is not None:
        raise OfferPlaceMismatch("An assessment offer names an assessment, not a course session.")
    if offer.assessment is None:
        raise OfferPlaceMismatch("An assessment offer must name its assessment.", field="assessment")
    most = offer.assessment.attempts
    if offer.attempts is not None and not 1 <= offer.attempts <= most:
        raise InvalidInput(f"A code gives 1 to {most} attempts of this assessment.", field="attempts")


def _check_product_offered(product: str, session: CourseSession | None) -> None:
    rule = product_rule(product)
    if session is not None and rule.place_kind == SESSION and not rule.offered_by(session):
        raise InvalidInput(f"The course session {session.slug!r} does not offer {product}.", field="product")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """What a batch of codes is to be, as every entry point asks for it (the staff pages, the
    staff API, the CLI, the shop bridge, a queued job): built there, checked here once
    (`checked`), and handed through the layers whole."""

    count: int
    country: str
    uses_per_code: int = 1
    expires_at: datetime | None = None
    tag: str = "untagged"
    restricted_to: User | None = None
    note: str = ""
    prefix: str | None = None  # None: the configured TESSERA_CODE_PREFIX
    refund_policy: str = Batch.RefundPolicy.RETURN_USE
    source: str = Batch.Source.TESSERA  # who makes it: a shop's bridge says so; no form or payload asks

    def checked(self, offer: Offer) -> "BatchSpec":
        """This batch for `offer`, normalised (country upper-cased, a blank tag untagged, the
        prefix resolved and normalised), or the first InvalidInput; writes nothing."""
        config.require_vouchers()
        config.require_product(offer.product)
        prefix = _valid_prefix(config.code_prefix() if self.prefix is None else self.prefix)
        _check_batch_input(offer=offer, count=self.count, uses_per_code=self.uses_per_code, expires_at=self.expires_at)
        one_of(Batch.RefundPolicy, "refund_policy", self.refund_policy)
        country = country_code(self.country)
        tag = fits_text(Batch, "tag", (self.tag or "").strip() or "untagged")
        return dataclasses.replace(self, country=country, tag=tag, prefix=prefix)

    def batch_fields(self) -> dict[str, Any]:
        """The batch row's columns this spec sets."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def batch_create(*, offer: Offer, spec: BatchSpec, actor: str = "system", progress: Progress | None = None) -> Batch:
    """Creates `spec.count` codes for `offer`, all or nothing: any error leaves no code behind."""
    spec = spec.checked(offer)
    with transaction.atomic():
        batch = Batch.objects.create(offer=offer, created_by=actor[:150], **spec.batch_fields())
        _fill_batch(batch, progress)
        audit_record(action=AuditEvent.Action.CREATED, actor=actor, batch=batch, count=spec.count)
    return batch


def _valid_prefix(prefix: str) -> str:
    try:
        normalized = codebook.normalize_prefix(prefix)
    except ValueError as error:
        raise InvalidInput(str(error), field="prefix") from None
    if len(normalized) + config.code_length() > codebook.MAX_TOTAL:
        raise InvalidInput(f"A prefix this long makes codes longer than {codebook.MAX_TOTAL} symbols.", field="prefix")
    return normalized


def _check_batch_input(*, offer: Offer, count: int, uses_per_code: int, expires_at: datetime | None) -> None:
    now = timezone.now()
    _check_product_offered(offer.product, offer.session)
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput(f"A batch has from 1 to {MAX_BATCH:,} codes.", field="count")
    if not 1 <= uses_per_code <= MAX_USES_PER_CODE:
        raise InvalidInput(f"Uses per code run from 1 to {MAX_USES_PER_CODE:,}.", field="uses_per_code")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("The expiry date has already passed.", field="expires_at")
    if offer.sale_ends_at is not None and offer.sale_ends_at <= now:
        raise InvalidInput("The offer's sale window has ended.", field="offer")


def _fill_batch(batch: Batch, progress: Progress | None) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _insert_codes(batch, progress)
            return
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise


def _insert_codes(batch: Batch, progress: Progress | None) -> None:
    length = config.code_length()
    # Sorted once, so each chunk is a contiguous key range of the primary-key index: inserting
    # in key order is about twice as fast as random order on SQLite and helps PostgreSQL too.
    fresh = sorted(codebook.generate(batch.count, length=length, prefix=batch.prefix))
    with codes_writer(batch_id=batch.pk, max_uses=batch.uses_per_code) as write:
        for start in range(0, len(fresh), CHUNK):
            chunk = fresh[start : start + CHUNK]
            write(chunk)
            if progress:
                progress(len(chunk))


def code_revoke(*, code: Code, actor: str) -> Code:
    """Revokes a live code; revoking it again changes nothing and logs nothing."""
    config.require_vouchers()
    with transaction.atomic():
        if Code.objects.filter(pk=code.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            audit_record(action=AuditEvent.Action.REVOKED, actor=actor, code=code.code, batch=code.batch)
    code.refresh_from_db()
    return code


def batch_revoke(*, batch: Batch, actor: str) -> int:
    """Revokes every code of the batch still live; answers how many."""
    config.require_vouchers()
    with transaction.atomic():
        now = timezone.now()
        batch_changed = Batch.objects.filter(pk=batch.pk, revoked_at__isnull=True).update(revoked_at=now)
        revoked = Code.objects.filter(batch=batch, revoked_at__isnull=True).update(revoked_at=now)
        if batch_changed or revoked:
            audit_record(action=AuditEvent.Action.REVOKED, actor=actor, batch=batch, codes=revoked)
            batch_revoked_in_transaction.send(sender=Batch, batch=batch, codes=revoked, at=now)
    batch.refresh_from_db()
    return revoked
