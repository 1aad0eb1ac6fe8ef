"""Changes to enrollments. Each is one conditional write, so a concurrent second attempt finds
nothing to change (it returns False) instead of writing twice.

Rules about who may do what live with the products (tessera.vouchers.products); these functions
only carry the change out, inside the caller's transaction.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from tessera.catalog.models import CourseSession, Enrollment


def enrollment_enroll(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    """Enroll, or restore an ended enrollment. False if the user is already actively enrolled."""
    restored = Enrollment.objects.filter(user_id=user.pk, session=session, active=False).update(active=True)
    if restored:
        return True
    try:
        with transaction.atomic():
            Enrollment.objects.create(user_id=user.pk, session=session)
    except IntegrityError:
        return False
    return True


def enrollment_withdraw(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    return bool(Enrollment.objects.filter(user_id=user.pk, session=session, active=True).update(active=False))


def proctoring_book(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    return bool(
        Enrollment.objects.filter(user_id=user.pk, session=session, active=True, proctored=False).update(proctored=True)
    )


def proctoring_cancel(*, user: AbstractBaseUser, session: CourseSession) -> bool:
    return bool(Enrollment.objects.filter(user_id=user.pk, session=session, proctored=True).update(proctored=False))


def reactivation_start(*, user: AbstractBaseUser, session: CourseSession, now: datetime, until: datetime) -> bool:
    """Create or restore the enrollment and open it until `until`. False if already reactivated."""
    not_reactivated = Q(reactivated_until__isnull=True) | Q(reactivated_until__lte=now)
    updated = Enrollment.objects.filter(not_reactivated, user_id=user.pk, session=session).update(
        active=True, reactivated_until=until
    )
    if updated:
        return True
    if Enrollment.objects.filter(user_id=user.pk, session=session).exists():
        return False
    try:
        with transaction.atomic():
            Enrollment.objects.create(user_id=user.pk, session=session, reactivated_until=until)
    except IntegrityError:
        return False
    return True


def reactivation_end(*, user: AbstractBaseUser, session: CourseSession, now: datetime) -> bool:
    return bool(
        Enrollment.objects.filter(user_id=user.pk, session=session, reactivated_until__gt=now).update(
            reactivated_until=now
        )
    )
