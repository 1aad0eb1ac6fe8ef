"""Changes to enrollments and assessment entitlements, inside the caller's transaction.

Each takes the enrollment the caller has just read (or None) and makes one conditional write:
an UPDATE guarded by the state that was read, or an INSERT guarded by the one-enrollment-per-user
unique constraint. A concurrent request that got there first makes the write find nothing, and
EnrollmentConflict is raised, so the caller's transaction rolls back instead of writing twice.

Rules about who may do what live with the callers; these functions
only carry the change out.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError
from django.db.models import F, Q

from tessera.catalog.errors import EnrollmentConflict, EntitlementConflict
from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession, Enrollment
from tessera.core.db import insert, violates_unique


def _create(*, user: AbstractBaseUser, session: CourseSession, **fields: object) -> None:
    # No savepoint: a conflict ends the caller's transaction, which is rolled back as a whole.
    # Hand-written INSERT (tessera.core.db.insert): this runs on every enrollment redemption, and
    # Enrollment.objects.create took 133 µs of CPU against 94 µs (PostgreSQL; docs/benchmarks.md
    # section 5).
    try:
        insert(Enrollment(user_id=user.pk, session_id=session.pk, **fields))
    except IntegrityError as error:
        if violates_unique(error, "one_enrollment_per_user_and_session"):
            raise EnrollmentConflict() from None
        raise


def _update(enrollment: Enrollment, guard: Q, **fields: object) -> None:
    if not Enrollment.objects.filter(guard, pk=enrollment.pk).update(**fields):
        raise EnrollmentConflict()


def enrollment_enroll(*, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None) -> None:
    """Enrolls, or restores an ended enrollment."""
    if enrollment is None:
        _create(user=user, session=session)
    else:
        _update(enrollment, Q(active=False), active=True)


def enrollment_withdraw(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    return bool(Enrollment.objects.filter(user_id=user.pk, session=session, active=True).update(active=False))


def proctoring_book(*, enrollment: Enrollment) -> None:
    _update(enrollment, Q(active=True, proctored=False), proctored=True)


def proctoring_cancel(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    return bool(Enrollment.objects.filter(user_id=user.pk, session=session, proctored=True).update(proctored=False))


def reactivation_start(
    *, user: AbstractBaseUser, session: CourseSession, enrollment: Enrollment | None, now: datetime, until: datetime
) -> None:
    """Creates or restores the enrollment and opens it until `until`."""
    if enrollment is None:
        _create(user=user, session=session, reactivated_until=until)
    else:
        not_reactivated = Q(reactivated_until__isnull=True) | Q(reactivated_until__lte=now)
        _update(enrollment, not_reactivated, active=True, reactivated_until=until)


def reactivation_end(*, user: AbstractBaseUser, session: CourseSession, now: datetime, keep_enrolled: bool) -> bool:
    """Ends a reactivation now; unless the learner was enrolled before it, the enrollment ends too."""
    ended = Enrollment.objects.filter(user_id=user.pk, session=session, reactivated_until__gt=now)
    return bool(ended.update(reactivated_until=now, active=keep_enrolled))


# --- assessment entitlements -------------------------------------------------------------------
# The same shape as the enrollments above: each write is guarded by the state the caller read,
# so a concurrent request that got there first makes it find nothing (EntitlementConflict).


def entitlement_grant(
    *, user: AbstractBaseUser, assessment: Assessment, attempts: int, entitlement: AssessmentEntitlement | None
) -> None:
    """Grants the assessment with `attempts` attempts, or restores an ended entitlement with them."""
    if entitlement is None:
        try:
            insert(AssessmentEntitlement(user_id=user.pk, assessment_id=assessment.pk, attempts=attempts))
        except IntegrityError as error:
            if violates_unique(error, "one_entitlement_per_user_and_assessment"):
                raise EntitlementConflict() from None
            raise
    elif not AssessmentEntitlement.objects.filter(pk=entitlement.pk, active=False).update(
        active=True, attempts=attempts
    ):
        raise EntitlementConflict()


def entitlement_add_attempts(*, entitlement: AssessmentEntitlement, attempts: int, most: int) -> None:
    """Adds `attempts` to an active entitlement, as long as it then holds at most `most`. One
    conditional UPDATE: PostgreSQL re-checks its WHERE against the newest row, so two concurrent
    additions both count, or the second one finds the limit reached."""
    room = Q(attempts__lte=most - attempts)
    added = AssessmentEntitlement.objects.filter(room, pk=entitlement.pk, active=True).update(
        attempts=F("attempts") + attempts
    )
    if not added:
        raise EntitlementConflict("You hold all the attempts this assessment allows.")


def entitlement_reduce(*, user: AbstractBaseUser, assessment: Assessment, attempts: int) -> bool:
    """Takes `attempts` attempts back; an entitlement left with none ends. Whether anything changed."""
    held = AssessmentEntitlement.objects.filter(user_id=user.pk, assessment_id=assessment.pk, active=True)
    if held.filter(attempts__gt=attempts).update(attempts=F("attempts") - attempts):
        return True
    return bool(held.update(active=False))


def entitlement_revoke(*, user: AbstractBaseUser, assessment: Assessment) -> bool:
    """Ends the learner's entitlement to the assessment, whatever attempts it held."""
    held = AssessmentEntitlement.objects.filter(user_id=user.pk, assessment_id=assessment.pk, active=True)
    return bool(held.update(active=False))
