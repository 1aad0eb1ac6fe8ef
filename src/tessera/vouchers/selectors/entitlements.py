"""What a learner holds: their enrollments and the codes they redeemed."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tessera.catalog.models import CourseSession, Enrollment
from tessera.vouchers.models import Redemption


@dataclass(frozen=True)
class Entitlements:
    enrollments: list[Enrollment]
    redemptions: list[Redemption]


def entitlements_of(user: AbstractBaseUser, *, sessions: QuerySet[CourseSession] | None = None) -> Entitlements:
    """A learner's enrollments (with proctoring and reactivation) and every code they redeemed;
    only those in `sessions`, when given (a course platform's own)."""
    enrollments = Enrollment.objects.filter(user_id=user.pk).select_related("session__course").order_by("-created_at")
    redemptions = (
        Redemption.objects.filter(user_id=user.pk)
        .select_related("code__batch", "session")
        .order_by("-redeemed_at", "-pk")
    )
    if sessions is not None:
        enrollments = enrollments.filter(session__in=sessions)
        redemptions = redemptions.filter(session__in=sessions)
    return Entitlements(enrollments=list(enrollments), redemptions=list(redemptions))
