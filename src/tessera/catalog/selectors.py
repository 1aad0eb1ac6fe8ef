"""Reads about the catalog, for products, pages and APIs."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Min, QuerySet

from tessera.catalog.models import Assessment, AssessmentEntitlement, Course, CourseSession, Enrollment, Exam
from tessera.core.db import columns, fetch_one, instance_from_row
from tessera.core.errors import InvalidInput

# Both run on every redemption: hand-written SQL, see tessera.core.db. The ORM's select_related
# get() and filter().first() took 453 and 481 µs of CPU against 110 and 91 µs (PostgreSQL;
# docs/benchmarks.md section 5); tests/catalog/test_selectors.py holds them to the ORM's answers.
SESSION_BY_SLUG = (
    f"SELECT {columns(CourseSession, 's')}, {columns(Course, 'c')} FROM catalog_coursesession s"  # noqa: S608
    " JOIN catalog_course c ON c.id = s.course_id WHERE s.slug = %s"
)
ENROLLMENT_FOR = (
    f"SELECT {columns(Enrollment, 'e')} FROM catalog_enrollment e"  # noqa: S608
    " WHERE e.user_id = %s AND e.session_id = %s"
)
SESSION_COLUMNS = len(CourseSession._meta.concrete_fields)


def session_by_slug(slug: str) -> CourseSession:
    """The session, with its course."""
    row = fetch_one(SESSION_BY_SLUG, [slug])
    if row is None:
        raise InvalidInput(f"There is no course session {slug!r}.", field="session")
    session = instance_from_row(CourseSession, row[:SESSION_COLUMNS])
    session.course = instance_from_row(Course, row[SESSION_COLUMNS:])
    return session


def enrollment_for(*, user: AbstractBaseUser, session: CourseSession) -> Enrollment | None:
    row = fetch_one(ENROLLMENT_FOR, [user.pk, session.pk])
    return None if row is None else instance_from_row(Enrollment, row)


def active_enrollment_count(session: CourseSession) -> int:
    return Enrollment.objects.filter(session=session, active=True).count()


def first_proctored_deadline(session: CourseSession) -> datetime | None:
    """Proctoring can be booked until this passes (one proctored exam may go unproctored)."""
    deadline: datetime | None = Exam.objects.filter(session=session, proctored=True).aggregate(
        first=Min("submission_deadline")
    )["first"]
    return deadline


def exam_deadline_for(*, exam: Exam, enrollment: Enrollment | None) -> datetime:
    """A reactivated learner may submit graded exams until the reactivation ends."""
    reactivated_until = enrollment.reactivated_until if enrollment else None
    if exam.graded and reactivated_until and reactivated_until > exam.submission_deadline:
        return reactivated_until
    return exam.submission_deadline


def exam_deadlines(*, session: CourseSession, enrollment: Enrollment | None) -> list[tuple[Exam, datetime]]:
    """The session's exams, each with the deadline that holds for this learner (moved out by a
    reactivation for graded exams). Reads `session.exams`, so a prefetch serves it."""
    return [(exam, exam_deadline_for(exam=exam, enrollment=enrollment)) for exam in session.exams.all()]


def assessment_by_slug(slug: str) -> Assessment:
    assessment = Assessment.objects.select_related("course").filter(slug=slug).first()
    if assessment is None:
        raise InvalidInput(f"There is no assessment {slug!r}.", field="assessment")
    return assessment


def entitlement_for(*, user: AbstractBaseUser, assessment: Assessment) -> AssessmentEntitlement | None:
    return AssessmentEntitlement.objects.filter(user_id=user.pk, assessment_id=assessment.pk).first()


def entitlements_of(user: AbstractBaseUser) -> QuerySet[AssessmentEntitlement]:
    """The learner's active assessment entitlements, newest first, with their assessments."""
    return (
        AssessmentEntitlement.objects.filter(user_id=user.pk, active=True)
        .select_related("assessment__course")
        .order_by("-created_at", "-pk")
    )


def assessments_shown(*, course: Course | None = None) -> QuerySet[Assessment]:
    """Active assessments by title: a course's, or (no course given) those that stand alone."""
    return Assessment.objects.filter(active=True, course=course).order_by("title", "pk")
