"""Redeeming a code, and reversing a redemption (a refund).

The count of uses is kept by one conditional UPDATE (`uses = uses + 1 WHERE uses < max_uses`),
never by reading, checking and saving: PostgreSQL re-checks the WHERE clause against the newest
row version under READ COMMITTED, and SQLite runs one IMMEDIATE writer at a time, so uses can
never exceed max_uses; a CHECK constraint backs it up.

A redemption is the hot path (hundreds a second), so its statements are written by hand (see
tessera.core.db) and kept few: one read (the code, its batch and offer, whether this user already
holds it, and their enrollment in the session, or for an assessment their entitlement to it), then
the writes. A typed code is looked up once, generated or imported: selectors.codes.code_key picks
the key before any query. The use is counted last, so a much-used code's row stays locked only
from that UPDATE to the COMMIT.

Redemptions and checks are a learner's attempts, so the services themselves hold them to the
failed- and refused-attempt limits (tessera.core.ratelimit), per learner and per the address the
caller passes: every entry point, the pages, the API and whatever comes next, is limited alike,
and none can forget to be. See docs/rate-limits.md.
"""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from tessera.catalog.errors import EnrollmentConflict
from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession, Enrollment
from tessera.core.db import columns, fetch_one, insert, instance_from_row, violates_unique
from tessera.core.errors import InvalidInput
from tessera.core.ratelimit.keys import attempt_keys
from tessera.core.ratelimit.limiter import failures_limited
from tessera.vouchers import codes as codebook
from tessera.vouchers import config
from tessera.vouchers.audit import MAX_CODE_TEXT, actor_of, audit_record
from tessera.vouchers.availability import closed_reason
from tessera.vouchers.errors import (
    GUESSES,
    REFUSALS,
    AlreadyRedeemed,
    AlreadyReversed,
    CodeExhausted,
    CodeExpired,
    CodeMistyped,
    CodeRevoked,
    NotEligible,
    ProductUnavailable,
    RedemptionRefused,
    WrongProduct,
    WrongUser,
)
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer, Redemption
from tessera.vouchers.products import ASSESSMENT, SESSION, product_rule
from tessera.vouchers.selectors.codes import CodeKey, code_key
from tessera.vouchers.signals import (
    redemption_reversed,
    redemption_reversed_in_transaction,
    voucher_redeemed,
    voucher_redeemed_in_transaction,
)


# Everything the checks need, in one query: see Found. Columns in model field order. The ORM needs
# two queries for it (select_related with an Exists, then the enrollment), which took 1,451 µs of
# CPU against 189 µs (PostgreSQL; docs/benchmarks.md section 5). tests/vouchers/test_redeem.py
# holds both this and COUNT_USE to the ORM's answers on the same rows.
def _code_read(holding: type[Model], place_column: str) -> str:
    """The read of a code with what the checks need, joined to the learner's holding at the place
    (their enrollment in the session, or their entitlement to the assessment)."""
    return (
        f"SELECT {columns(Code, 'c')}, {columns(Batch, 'b')}, {columns(Offer, 'o')}, {columns(holding, 'e')},"  # noqa: S608
        " EXISTS(SELECT 1 FROM vouchers_redemption r WHERE r.code_id = c.code AND r.user_id = %s"
        " AND r.reversed_at IS NULL)"
        " FROM vouchers_code c JOIN vouchers_batch b ON b.id = c.batch_id JOIN vouchers_offer o ON o.id = b.offer_id"
        f" LEFT JOIN {holding._meta.db_table} e ON e.user_id = %s AND e.{place_column} = %s"
        " WHERE c.code = %s"
    )


CODE_FOR_REDEMPTION = _code_read(Enrollment, "session_id")
# The same read for an assessment: the learner's entitlement in place of the enrollment.
CODE_FOR_ASSESSMENT = _code_read(AssessmentEntitlement, "assessment_id")


def _column_slices(*models: type[Model]) -> list[slice]:
    ends = list(accumulate(len(model._meta.concrete_fields) for model in models))
    return [slice(end - len(model._meta.concrete_fields), end) for model, end in zip(models, ends, strict=True)]


CODE_COLUMNS, BATCH_COLUMNS, OFFER_COLUMNS, ENROLLMENT_COLUMNS = _column_slices(Code, Batch, Offer, Enrollment)
ENTITLEMENT_COLUMNS = _column_slices(Code, Batch, Offer, AssessmentEntitlement)[3]
# Per kind of place: its read, the holding it finds, and where the holding's columns are.
READS: dict[str, tuple[str, type[Model], slice]] = {
    SESSION: (CODE_FOR_REDEMPTION, Enrollment, ENROLLMENT_COLUMNS),
    ASSESSMENT: (CODE_FOR_ASSESSMENT, AssessmentEntitlement, ENTITLEMENT_COLUMNS),
}
# The ORM can say this too (filter(uses__lt=F("max_uses"), ...).update(uses=F("uses") + 1)), but
# took 392 µs of CPU against 65 µs (PostgreSQL; docs/benchmarks.md section 5).
COUNT_USE = "UPDATE vouchers_code SET uses = uses + 1 WHERE code = %s AND uses < max_uses AND revoked_at IS NULL"


@dataclass(frozen=True)
class Found:
    """What a redemption reads: the code (with its batch and offer; not the offer's session or
    assessment, only its id is compared and the caller passes the place), whether the user holds
    a live redemption of it, and the user's holding at the place: their enrollment in the
    session, or their entitlement to the assessment."""

    code: Code
    held: bool
    holding: Enrollment | AssessmentEntitlement | None


@dataclass(frozen=True)
class Attempt:
    """One call to redeem: who, where (a session, or an assessment), what for, from which
    address, when."""

    user: AbstractBaseUser
    session: CourseSession | None
    product: str | None
    client_ip: str | None
    now: datetime
    assessment: Assessment | None = None

    @property
    def place_kind(self) -> str:
        return SESSION if self.session is not None else ASSESSMENT

    @property
    def place(self) -> CourseSession | Assessment:
        place = self.session or self.assessment
        if place is None:  # _place_named refuses such a call before any Attempt is made
            raise InvalidInput("Name a course session or an assessment.", field="session")
        return place

    def where(self) -> dict[str, Any]:
        """The place as the audit log names it."""
        return {self.place_kind: self.place.slug}


def _place_named(session: CourseSession | None, assessment: Assessment | None) -> None:
    if (session is None) == (assessment is None):
        raise InvalidInput("Name either a course session or an assessment.", field="session")


def voucher_redeem(
    *,
    code: str,
    user: AbstractBaseUser,
    session: CourseSession | None = None,
    assessment: Assessment | None = None,
    product: str | None = None,
    client_ip: str | None = None,
    limited: bool = True,
    unknown_address_shared: bool = True,
) -> Redemption:
    """Redeems `code` for `user` on `session`, or on `assessment` (exactly one of the two), and
    activates its product, or refuses and changes nothing but the audit log. `product`, when
    given, is what the user asked for (the form they used); a code for another product is
    refused rather than activating something unexpected.
    `client_ip` is the learner's address as the caller knows it: it is kept with the redemption
    and, with the learner, names the rate limits' counters (see _attempts_limited, `limited`,
    `unknown_address_shared`)."""
    _place_named(session, assessment)
    with _attempts_limited(user, client_ip, limited=limited, unknown_address_shared=unknown_address_shared):
        config.require_vouchers()
        if not user.is_authenticated:
            raise InvalidInput("Sign in to redeem a code.", field="user")
        attempt = Attempt(
            user=user, session=session, assessment=assessment, product=product, client_ip=client_ip, now=timezone.now()
        )
        try:
            lookup = code_key(code)
            with transaction.atomic():
                return _redeem(lookup, attempt)
        except RedemptionRefused as refusal:
            # Written after the rollback, in its own transaction, so the refusal is kept.
            audit_record(
                action=AuditEvent.Action.REFUSED, actor=actor_of(user), code=_as_logged(code), at=attempt.now,
                reason=refusal.code, **attempt.where(),
            )  # fmt: skip
            raise


def _attempts_limited(
    user: AbstractBaseUser, client_ip: str | None, *, limited: bool, unknown_address_shared: bool
) -> AbstractContextManager[None]:
    """The failed- and refused-attempt limits around a whole redemption or check, counted under
    the learner (`user:<pk>`) and the address (ip_key of `client_ip`; callers without one share
    "ip:unknown", unless `unknown_address_shared` is False: a course platform that reports no
    learner address, whose learners then count under their own key alone; see attempt_keys).
    It wraps the transaction, never the reverse: a refusal rolls the transaction back, and its
    count must survive that (tessera.core.ratelimit.limiter, "Transactions").

    `limited=False` is for staff redeeming on a learner's behalf (the `tessera redeem` command;
    bench/bench_redeem.py, which measures the redemption alone, too), never for anything a learner
    reaches: staff type codes a learner handed them, so a refusal is no one's guess, and they have
    no learner's address to pass. Counted, their attempts would fill the learner's own counter
    and the "ip:unknown" one that every address-less caller shares, and a learner at a limit could
    not be helped by staff."""
    if not limited:
        return nullcontext()
    keys = attempt_keys(user, client_ip, unknown_address_shared=unknown_address_shared)
    return failures_limited(keys=keys, counted=GUESSES, refused=REFUSALS)


@dataclass(frozen=True)
class Preview:
    """What a code would unlock for this user on this session or assessment, were it redeemed now."""

    code: Code
    product: str
    session: CourseSession | None
    uses_left: int
    assessment: Assessment | None = None


def voucher_check(
    *,
    code: str,
    user: AbstractBaseUser,
    session: CourseSession | None = None,
    assessment: Assessment | None = None,
    product: str | None = None,
    client_ip: str | None = None,
    unknown_address_shared: bool = True,
) -> Preview:
    """Runs every check `voucher_redeem` runs, changes nothing, and raises the same refusal the
    redemption would; the answer may of course change before the learner redeems. A check is
    an attempt like a redemption, held to the same limits under the same counters (a guesser
    would otherwise check codes unlimited); `client_ip` and `unknown_address_shared` mean the
    same. Only learners check codes, so no caller is exempt."""
    _place_named(session, assessment)
    with _attempts_limited(user, client_ip, limited=True, unknown_address_shared=unknown_address_shared):
        config.require_vouchers()
        if not user.is_authenticated:
            raise InvalidInput("Sign in to check a code.", field="user")
        attempt = Attempt(
            user=user, session=session, assessment=assessment, product=product, client_ip=client_ip, now=timezone.now()
        )
        lookup = code_key(code)
        # A transaction, though nothing is written: the capacity rule reads the session's row with
        # SELECT ... FOR UPDATE, which PostgreSQL allows only inside one.
        with transaction.atomic():
            found = _code_for_redemption(lookup, attempt)
            _check_code(found, attempt)
            code_row, offer = found.code, found.code.batch.offer
            product_rule(offer.product).ensure_eligible(
                user=user, place=attempt.place, holding=found.holding, now=attempt.now, offer=offer
            )
        uses_left = code_row.max_uses - code_row.uses
        return Preview(
            code=code_row, product=offer.product, session=session, assessment=assessment, uses_left=uses_left
        )


def _code_for_redemption(lookup: CodeKey, attempt: Attempt) -> Found:
    statement, holding_model, holding_columns = READS[attempt.place_kind]
    user = attempt.user.pk
    row = fetch_one(statement, [user, user, attempt.place.pk, lookup.key])
    if row is None:
        raise lookup.missing
    code = instance_from_row(Code, row[CODE_COLUMNS])
    code.batch = instance_from_row(Batch, row[BATCH_COLUMNS])
    code.batch.offer = instance_from_row(Offer, row[OFFER_COLUMNS])
    found = row[holding_columns][0] is not None  # the LEFT JOIN found a row
    holding = instance_from_row(holding_model, row[holding_columns]) if found else None
    return Found(code=code, held=bool(row[-1]), holding=holding)  # type: ignore[arg-type]


def _as_logged(text: str) -> str:
    """What the audit log keeps of a typed code: the key it was looked up by (code_key) or else
    normalised if it can be, so searches find it."""
    text = text[:MAX_CODE_TEXT]
    try:
        return code_key(text).key
    except CodeMistyped:
        pass
    try:
        return codebook.normalize(text)
    except codebook.InvalidCode:
        return text


def _redeem(lookup: CodeKey, attempt: Attempt) -> Redemption:
    found = _code_for_redemption(lookup, attempt)
    _check_code(found, attempt)
    code, holding, offer, place = found.code, found.holding, found.code.batch.offer, attempt.place
    rule = product_rule(offer.product)
    rule.ensure_eligible(user=attempt.user, place=place, holding=holding, now=attempt.now, offer=offer)
    redemption = _record(
        code, attempt, attempts=rule.attempts_given(offer=offer, place=place),
        had_active_enrollment=isinstance(holding, Enrollment) and holding.active,
    )  # fmt: skip
    try:
        rule.activate(user=attempt.user, place=place, holding=holding, now=attempt.now, offer=offer)
    except EnrollmentConflict as conflict:
        # A concurrent request changed the enrollment since we read it; the transaction rolls
        # back the redemption.
        raise NotEligible(conflict.message) from None
    audit_record(
        action=AuditEvent.Action.REDEEMED, actor=actor_of(attempt.user), code=code.code,
        batch=code.batch, at=attempt.now, **attempt.where(),
    )  # fmt: skip
    # Last: the code's row lock is held from here to the commit; a refusal here rolls back all.
    _count_use(code)
    # Receivers write in this transaction (a platform's event) and take their row locks after the code's.
    voucher_redeemed_in_transaction.send(sender=Redemption, redemption=redemption)
    transaction.on_commit(lambda: voucher_redeemed.send(sender=Redemption, redemption=redemption))
    return redemption


def _check_code(found: Found, attempt: Attempt) -> None:
    """Refusals that follow from the code itself, most specific first."""
    code = found.code
    batch: Batch = code.batch
    offer = batch.offer
    if code.revoked_at or batch.revoked_at:
        raise CodeRevoked()
    if batch.is_expired(attempt.now):
        raise CodeExpired(f"This code expired at {batch.expires_at:%Y-%m-%d %H:%M} UTC.")
    if batch.restricted_to_id is not None and batch.restricted_to_id != attempt.user.pk:
        raise WrongUser()
    if attempt.product is not None and attempt.product != offer.product:
        raise WrongProduct(f"This code is for {offer.product}, not {attempt.product}.")
    _check_place(offer, attempt)
    _check_product_available(code, attempt)
    if found.held:
        raise AlreadyRedeemed()
    if code.uses >= code.max_uses:
        raise CodeExhausted()


def _check_place(offer: Offer, attempt: Attempt) -> None:
    """A code is for a kind of place (a session's product, or an assessment) and, if its offer
    names one, for that session or assessment only."""
    if product_rule(offer.product).place_kind != attempt.place_kind:
        raise WrongProduct(f"This code is for {offer.product}, not for {_A_PLACE[attempt.place_kind]}.")
    named = offer.session_id if attempt.place_kind == SESSION else offer.assessment_id
    if named is not None and named != attempt.place.pk:
        raise WrongProduct(f"This code is for another {_PLACE_WORD[attempt.place_kind]}.")


_PLACE_WORD = {SESSION: "course session", ASSESSMENT: "assessment"}
_A_PLACE = {SESSION: "a course session", ASSESSMENT: "an assessment"}


def _check_product_available(code: Code, attempt: Attempt) -> None:
    offer, place = code.batch.offer, attempt.place
    rule = product_rule(offer.product)
    config.require_product(offer.product)
    if attempt.session is not None and (reason := closed_reason(attempt.session)):
        raise ProductUnavailable(reason)
    if not offer.auto_subscribe:
        raise ProductUnavailable("This offer is not active: its codes do not subscribe anyone yet.")
    if not rule.offered_by(place):
        raise ProductUnavailable(f"This {_PLACE_WORD[attempt.place_kind]} does not offer {offer.product}.")
    if reason := rule.closed(place, attempt.now):
        raise ProductUnavailable(reason)


def _count_use(code: Code) -> None:
    with connection.cursor() as cursor:
        cursor.execute(COUNT_USE, [code.pk])
        counted = cursor.rowcount
    if not counted:
        # Someone else took the last use, or revoked the code, between our read and now.
        raise CodeRevoked() if Code.objects.filter(pk=code.pk, revoked_at__isnull=False).exists() else CodeExhausted()


def _record(code: Code, attempt: Attempt, *, attempts: int | None, had_active_enrollment: bool) -> Redemption:
    # No savepoint: a conflict (the same user redeeming the same code concurrently) ends the
    # whole redemption, so the outer transaction rolls back and nothing is left to recover.
    redemption = Redemption(
        code=code, user_id=attempt.user.pk, session=attempt.session, assessment=attempt.assessment,
        product=code.batch.offer.product, redeemed_at=attempt.now, client_ip=attempt.client_ip,
        had_active_enrollment=had_active_enrollment, attempts=attempts,
    )  # fmt: skip
    try:
        insert(redemption)
    except IntegrityError as error:
        if violates_unique(error, "one_live_redemption_per_code_and_user"):
            raise AlreadyRedeemed() from None
        raise
    return redemption


def refund_returns_use(*, batch: Batch, give_back_use: bool | None) -> bool:
    """Whether reversing a redemption gives its code the use back: as asked, else as the batch's
    refund policy says."""
    return batch.refund_policy == Batch.RefundPolicy.RETURN_USE if give_back_use is None else give_back_use


def redemption_reverse(*, redemption: Redemption, actor: str, give_back_use: bool | None = None) -> Redemption:
    """Ends the entitlement a redemption gave. The batch's refund policy decides whether the
    code gets its use back, unless `give_back_use` says so explicitly."""
    config.require_vouchers()
    now = timezone.now()
    with transaction.atomic():
        if not Redemption.objects.filter(pk=redemption.pk, reversed_at__isnull=True).update(
            reversed_at=now, reversed_by=actor[:150]
        ):
            raise AlreadyReversed()
        code = Code.objects.select_related("batch").get(pk=redemption.code_id)
        product_rule(redemption.product).deactivate(redemption=redemption, now=now)
        give_back_use = refund_returns_use(batch=code.batch, give_back_use=give_back_use)
        if give_back_use:
            Code.objects.filter(pk=code.pk, uses__gt=0).update(uses=F("uses") - 1)
        audit_record(
            action=AuditEvent.Action.REVERSED, actor=actor, code=code.code, batch=code.batch, at=now,
            user_id=redemption.user_id, use_returned=give_back_use,
        )  # fmt: skip
        redemption.refresh_from_db()
        redemption_reversed_in_transaction.send(sender=Redemption, redemption=redemption, use_returned=give_back_use)
        transaction.on_commit(
            lambda: redemption_reversed.send(sender=Redemption, redemption=redemption, use_returned=give_back_use)
        )
    return redemption
