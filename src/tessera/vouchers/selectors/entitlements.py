"""What a learner holds: their enrollments, their assessments and the codes they redeemed."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tessera.catalog.models import AssessmentEntitlement, CourseSession, Enrollment
from tessera.catalog.selectors import entitlements_of as assessment_entitlements_of
from tessera.vouchers.models import Redemption


@dataclass(frozen=True)
class Entitlements:
    enrollments: list[Enrollment]
    redemptions: list[Redemption]
    assessments: list[AssessmentEntitlement]


def redemption_place(redemption: Redemption) -> dict[str, str | None]:
    """Where a redemption was made, as the APIs show it: session, course and assessment slugs
    (a session's course; an assessment's course, if it belongs to one). Its session and
    assessment must be loaded with their courses."""
    if redemption.session is not None:
        return {"session": redemption.session.slug, "course": redemption.session.course.slug, "assessment": None}
    assessment = redemption.assessment
    course = assessment.course if assessment is not None else None
    return {"session": None, "course": course.slug if course else None, "assessment": place_of(redemption)}


def place_of(redemption: Redemption) -> str:
    """Where a redemption was made, by slug: its course session, or its assessment."""
    place = redemption.session or redemption.assessment
    return place.slug if place is not None else ""


def entitlements_of(user: AbstractBaseUser, *, sessions: QuerySet[CourseSession] | None = None) -> Entitlements:
    """A learner's enrollments (with proctoring and reactivation), active assessment entitlements
    and every code they redeemed; only those in `sessions`, when given (a course platform's own,
    which holds no assessments)."""
    enrollments = Enrollment.objects.filter(user_id=user.pk).select_related("session__course").order_by("-created_at")
    redemptions = (
        Redemption.objects.filter(user_id=user.pk)
        .select_related("code__batch", "session", "assessment")
        .order_by("-redeemed_at", "-pk")
    )
    if sessions is not None:
        enrollments = enrollments.filter(session__in=sessions)
        redemptions = redemptions.filter(session__in=sessions)
        return Entitlements(enrollments=list(enrollments), redemptions=list(redemptions), assessments=[])
    assessments = list(assessment_entitlements_of(user))
    return Entitlements(enrollments=list(enrollments), redemptions=list(redemptions), assessments=assessments)
