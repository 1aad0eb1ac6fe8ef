"""The rules of the three products a code can unlock: each product's eligibility and effect.

A product's rule (a ProductRule; the product itself is the offer's Product choice) answers four
questions: does this session offer me at all (`offered_by`), does this enrollment hold me already
(`holds`), may this user get me here and now (`refusal`, a plain-words reason or None), and how am
I activated or ended (`activate`, `deactivate`). The rules are the table in DOMAIN.md.

`refusal` and `activate` take the user's enrollment in the session as the caller read it (or
None), so one redemption reads it once; `activate` writes only if it is still as read, and
raises EnrollmentConflict otherwise.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from tessera.catalog import selectors as catalog
from tessera.catalog import services as enrollments
from tessera.catalog.errors import EnrollmentConflict
from tessera.catalog.models import CourseSession, Enrollment
from tessera.core.errors import InvalidInput
from tessera.vouchers.errors import NotEligible
from tessera.vouchers.models import Product, Redemption


@dataclass(frozen=True)
class ProductRule:
    name: str

    def offered_by(self, session: CourseSession) -> bool:
        raise NotImplementedError

    def holds(self, enrollment: Enrollment | None, now: datetime) -> bool:
        """Whether this enrollment has the product already: a code for it would be refused, and
        the learner pages offer no form for it."""
        raise NotImplementedError

    def refusal(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> str | None:
        raise NotImplementedError

    def activate(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> None:
        raise NotImplementedError

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        raise NotImplementedError

    def ensure_eligible(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> None:
        reason = self.refusal(user=user, session=session, enrollment=enrollment, now=now)
        if reason:
            raise NotEligible(reason)


class EnrollmentRule(ProductRule):
    def offered_by(self, session: CourseSession) -> bool:
        return True

    def holds(self, enrollment: Enrollment | None, now: datetime) -> bool:
        return enrollment is not None and enrollment.active

    def refusal(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> str | None:
        if session.state == CourseSession.State.ARCHIVED or session.has_ended(now):
            return "This course session has ended."
        if not session.enrollment_open(now):
            return "Enrollment for this course session is not open."
        if self.holds(enrollment, now):
            return "You are already enrolled in this course session."
        if session.capacity is not None and self._is_full(session):
            return "This course session is full."
        return None

    def _is_full(self, session: CourseSession) -> bool:
        # The session row lock makes concurrent enrollments into the last seats queue up, so the
        # count below cannot be stale by the time the enrollment is written (no-op on SQLite,
        # whose IMMEDIATE transactions already run one writer at a time).
        CourseSession.objects.select_for_update().filter(pk=session.pk).first()
        return catalog.active_enrollment_count(session) >= (session.capacity or 0)

    def activate(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> None:
        enrollments.enrollment_enroll(user=user, session=session, enrollment=enrollment)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.enrollment_withdraw(user=redemption.user, session=redemption.session)


class ProctoringRule(ProductRule):
    def offered_by(self, session: CourseSession) -> bool:
        return session.offers_proctored_certificate

    def holds(self, enrollment: Enrollment | None, now: datetime) -> bool:
        return enrollment is not None and enrollment.proctored

    def refusal(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> str | None:
        if not PRODUCT_RULES[Product.ENROLLMENT].holds(enrollment, now):
            return "Enroll in this course session before booking proctoring."
        if self.holds(enrollment, now):
            return "You have already booked proctoring for this course session."
        deadline = catalog.first_proctored_deadline(session)
        if deadline is not None and deadline <= now:
            return "The submission deadline of the first proctored exam has passed."
        return None

    def activate(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> None:
        if enrollment is None:  # refusal() let it through, so someone withdrew it meanwhile
            raise EnrollmentConflict()
        enrollments.proctoring_book(enrollment=enrollment)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.proctoring_cancel(user=redemption.user, session=redemption.session)


class ReactivationRule(ProductRule):
    def offered_by(self, session: CourseSession) -> bool:
        return session.reactivation_enabled

    def holds(self, enrollment: Enrollment | None, now: datetime) -> bool:
        return enrollment is not None and enrollment.is_reactivated(now)

    def refusal(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> str | None:
        if session.state == CourseSession.State.PREPARATION:
            return "This course session is still in preparation."
        if not (session.has_started(now) and session.has_ended(now)):
            return "Only a course session that has ended can be reactivated."
        if enrollment is not None and self.holds(enrollment, now):
            return f"This course is already reactivated for you until {enrollment.reactivated_until:%Y-%m-%d}."
        return None

    def activate(
        self, *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
    ) -> None:
        until = now + session.reactivation_period
        enrollments.reactivation_start(user=user, session=session, enrollment=enrollment, now=now, until=until)

    def deactivate(self, *, redemption: Redemption, now: datetime) -> bool:
        return enrollments.reactivation_end(
            user=redemption.user, session=redemption.session, now=now, keep_enrolled=redemption.had_active_enrollment
        )


PRODUCT_RULES: dict[str, ProductRule] = {
    Product.ENROLLMENT: EnrollmentRule(Product.ENROLLMENT),
    Product.PROCTORING: ProctoringRule(Product.PROCTORING),
    Product.REACTIVATION: ReactivationRule(Product.REACTIVATION),
}


def products_held(enrollment: Enrollment | None, now: datetime) -> set[str]:
    """The products this enrollment has already (an active enrollment, a proctoring booking, a
    running reactivation), as each product's rule judges it."""
    return {name for name, rule in PRODUCT_RULES.items() if rule.holds(enrollment, now)}


def product_rule(name: str) -> ProductRule:
    try:
        return PRODUCT_RULES[name]
    except KeyError:
        choices = ", ".join(PRODUCT_RULES)
        raise InvalidInput(f"Unknown product {name!r}; choose one of {choices}.", field="product") from None
