"""The rules of the four products a code can unlock: each product's eligibility and effect.

A product is had somewhere, its place: a course session (enrollment, proctoring, reactivation)
or an assessment (assessment); `place` names which, and tells the redemption which of the two
the learner must name and which holding of theirs to read. The learner's holding there is their
enrollment in the session, or their entitlement to the assessment (or None).

A product's rule (a ProductRule; the product itself is the offer's Product choice) answers five
questions: does this place offer me at all (`offered_by`), is the place closed to me right now
(`closed`, a plain-words reason or None), does this holding hold me already (`holds`), may this
user get me here and now (`refusal`, a plain-words reason or None), and how am I activated or
ended (`activate`, `deactivate`). The rules are the table in DOMAIN.md.

`refusal` and `activate` take the holding as the caller read it (or None), so one redemption
reads it once, and the offer whose code is redeemed; `activate` writes only if the holding is
still as read, and raises EnrollmentConflict otherwise.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser

from tessera.catalog import selectors as catalog
from tessera.catalog import services as enrollments
from tessera.catalog.errors import EnrollmentConflict
from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession, Enrollment
from tessera.core.errors import InvalidInput
from tessera.vouchers.errors import NotEligible
from tessera.vouchers.models import Offer, Product, Redemption

SESSION = "session"
ASSESSMENT = "assessment"

PlaceT = TypeVar("PlaceT", CourseSession, Assessment)
HoldingT = TypeVar("HoldingT", Enrollment, AssessmentEntitlement)


@dataclass(frozen=True)
class ProductRule(Generic[PlaceT, HoldingT]):
    name: str
    # Where the product is had: SESSION or ASSESSMENT (the Redemption field it is recorded under).
    place_kind: ClassVar[str] = SESSION

    def offered_by(self, place: PlaceT) -> bool:
        raise NotImplementedError

    def closed(self, place: PlaceT, now: datetime) -> str | None:
        """Why no code of this product can be redeemed at this place now (product_unavailable)."""
        return None

    def holds(self, holding: HoldingT | None, now: datetime) -> bool:
        """Whether this holding has the product already: a plain code for it would be refused,
        and the learner pages offer no form for it."""
        raise NotImplementedError

    def refusal(
        self,
        *,
        user: AbstractBaseUser,
        place: PlaceT,
        holding: HoldingT | None,
        now: datetime,
        offer: Offer | None = None,
    ) -> str | None:
        raise NotImplementedError

    def attempts_given(self, *, offer: Offer, place: PlaceT) -> int | None:
        """The attempts one code of `offer` gives here, which its redemption records (and a
        reversal takes back); None for products that are not counted in attempts."""
        return None

    def activate(
        self, *, user: AbstractBaseUser, place: PlaceT, holding: HoldingT | None, now: datetime, offer: Offer
    ) -> None:
        raise NotImplementedError

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        raise NotImplementedError

    def ensure_eligible(
        self, *, user: AbstractBaseUser, place: PlaceT, holding: HoldingT | None, now: datetime, offer: Offer
    ) -> None:
        reason = self.refusal(user=user, place=place, holding=holding, now=now, offer=offer)
        if reason:
            raise NotEligible(reason)


class SessionRule(ProductRule[CourseSession, Enrollment]):
    """A product had in a course session, held in the learner's enrollment there."""

    place_kind = SESSION

    @staticmethod
    def session_of(redemption: Redemption) -> CourseSession:
        if redemption.session is None:  # the database's check constraint allows no such row
            raise ValueError(f"Redemption {redemption.pk} of {redemption.product} names no course session.")
        return redemption.session


class EnrollmentRule(SessionRule):
    def offered_by(self, place: CourseSession) -> bool:
        return True

    def holds(self, holding: Enrollment | None, now: datetime) -> bool:
        return holding is not None and holding.active

    def refusal(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime,
        offer: Offer | None = None,
    ) -> str | None:  # fmt: skip
        if place.state == CourseSession.State.ARCHIVED or place.has_ended(now):
            return "This course session has ended."
        if not place.enrollment_open(now):
            return "Enrollment for this course session is not open."
        if self.holds(holding, now):
            return "You are already enrolled in this course session."
        if place.capacity is not None and self._is_full(place):
            return "This course session is full."
        return None

    def _is_full(self, session: CourseSession) -> bool:
        # The session row lock makes concurrent enrollments into the last seats queue up, so the
        # count below cannot be stale by the time the enrollment is written (no-op on SQLite,
        # whose IMMEDIATE transactions already run one writer at a time).
        CourseSession.objects.select_for_update().filter(pk=session.pk).first()
        return catalog.active_enrollment_count(session) >= (session.capacity or 0)

    def activate(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime, offer: Offer
    ) -> None:
        enrollments.enrollment_enroll(user=user, session=place, enrollment=holding)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.enrollment_withdraw(user=redemption.user, session=self.session_of(redemption))


class ProctoringRule(SessionRule):
    def offered_by(self, place: CourseSession) -> bool:
        return place.offers_proctored_certificate

    def holds(self, holding: Enrollment | None, now: datetime) -> bool:
        return holding is not None and holding.proctored

    def refusal(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime,
        offer: Offer | None = None,
    ) -> str | None:  # fmt: skip
        if not PRODUCT_RULES[Product.ENROLLMENT].holds(holding, now):
            return "Enroll in this course session before booking proctoring."
        if self.holds(holding, now):
            return "You have already booked proctoring for this course session."
        deadline = catalog.first_proctored_deadline(place)
        if deadline is not None and deadline <= now:
            return "The submission deadline of the first proctored exam has passed."
        return None

    def activate(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime, offer: Offer
    ) -> None:
        if holding is None:  # refusal() let it through, so someone withdrew it meanwhile
            raise EnrollmentConflict()
        enrollments.proctoring_book(enrollment=holding)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.proctoring_cancel(user=redemption.user, session=self.session_of(redemption))


class ReactivationRule(SessionRule):
    def offered_by(self, place: CourseSession) -> bool:
        return place.reactivation_enabled

    def holds(self, holding: Enrollment | None, now: datetime) -> bool:
        return holding is not None and holding.is_reactivated(now)

    def refusal(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime,
        offer: Offer | None = None,
    ) -> str | None:  # fmt: skip
        if place.state == CourseSession.State.PREPARATION:
            return "This course session is still in preparation."
        if not (place.has_started(now) and place.has_ended(now)):
            return "Only a course session that has ended can be reactivated."
        if holding is not None and self.holds(holding, now):
            return f"This course is already reactivated for you until {holding.reactivated_until:%Y-%m-%d}."
        return None

    def activate(
        self, *, user: AbstractBaseUser, place: CourseSession, holding: Enrollment | None, now: datetime, offer: Offer
    ) -> None:
        until = now + place.reactivation_period
        enrollments.reactivation_start(user=user, session=place, enrollment=holding, now=now, until=until)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.reactivation_end(
            user=redemption.user, session=self.session_of(redemption), now=now,
            keep_enrolled=redemption.had_active_enrollment,
        )  # fmt: skip


class AssessmentRule(ProductRule[Assessment, AssessmentEntitlement]):
    """An assessment, held in the learner's entitlement to it. A code gives the offer's attempts
    (the assessment's allowance unless the offer says fewer). A learner who holds the assessment
    is refused a plain code; a code of an offer that adds attempts adds them, as long as the
    learner then holds no more than the assessment allows (its `attempts`)."""

    place_kind = ASSESSMENT

    def offered_by(self, place: Assessment) -> bool:
        return True

    def closed(self, place: Assessment, now: datetime) -> str | None:
        return place.closed_reason(now)

    def holds(self, holding: AssessmentEntitlement | None, now: datetime) -> bool:
        return holding is not None and holding.active

    def refusal(
        self, *, user: AbstractBaseUser, place: Assessment, holding: AssessmentEntitlement | None, now: datetime,
        offer: Offer | None = None,
    ) -> str | None:  # fmt: skip
        if holding is None or not self.holds(holding, now):
            return None
        if offer is None or not offer.adds_attempts:
            return f"You already hold this assessment, with {holding.attempts} attempts."
        if holding.attempts + self.attempts_given(offer=offer, place=place) > place.attempts:
            return f"You hold {holding.attempts} of the {place.attempts} attempts this assessment allows."
        return None

    def attempts_given(self, *, offer: Offer, place: Assessment) -> int:
        """The attempts one code of `offer` gives: the offer's, never more than the allowance."""
        return min(offer.attempts or place.attempts, place.attempts)

    def activate(
        self, *, user: AbstractBaseUser, place: Assessment, holding: AssessmentEntitlement | None, now: datetime,
        offer: Offer,
    ) -> None:  # fmt: skip
        attempts = self.attempts_given(offer=offer, place=place)
        if holding is not None and self.holds(holding, now):
            enrollments.entitlement_add_attempts(entitlement=holding, attempts=attempts, most=place.attempts)
        else:
            enrollments.entitlement_grant(user=user, assessment=place, attempts=attempts, entitlement=holding)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        assessment = redemption.assessment
        if assessment is None:  # the database's check constraint allows no such row
            raise ValueError(f"Redemption {redemption.pk} of an assessment names no assessment.")
        if redemption.attempts is None:
            return enrollments.entitlement_revoke(user=redemption.user, assessment=assessment)
        return enrollments.entitlement_reduce(user=redemption.user, assessment=assessment, attempts=redemption.attempts)


PRODUCT_RULES: dict[str, ProductRule[Any, Any]] = {
    Product.ENROLLMENT: EnrollmentRule(Product.ENROLLMENT),
    Product.PROCTORING: ProctoringRule(Product.PROCTORING),
    Product.REACTIVATION: ReactivationRule(Product.REACTIVATION),
    Product.ASSESSMENT: AssessmentRule(Product.ASSESSMENT),
}


def products_at(place: str) -> list[str]:
    """The products had at a kind of place (SESSION or ASSESSMENT), in Product order."""
    return [name for name, rule in PRODUCT_RULES.items() if rule.place_kind == place]


def products_held(enrollment: Enrollment | None, now: datetime) -> set[str]:
    """The session products this enrollment has already (an active enrollment, a proctoring
    booking, a running reactivation), as each product's rule judges it."""
    return {name for name in products_at(SESSION) if PRODUCT_RULES[name].holds(enrollment, now)}


def product_rule(name: str) -> ProductRule[Any, Any]:
    try:
        return PRODUCT_RULES[name]
    except KeyError:
        choices = ", ".join(PRODUCT_RULES)
        raise InvalidInput(f"Unknown product {name!r}; choose one of {choices}.", field="product") from None
