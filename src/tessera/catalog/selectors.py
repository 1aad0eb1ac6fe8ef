"""Reads about the catalog, for products, pages and APIs."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Min

from tessera.catalog.models import CourseSession, Enrollment, Exam
from tessera.core.errors import InvalidInput


def session_by_slug(slug: str) -> CourseSession:
    session = CourseSession.objects.select_related("course").filter(slug=slug).first()
    if session is None:
        raise InvalidInput(f"There is no course session {slug!r}.", field="session")
    return session


def enrollment_for(*, user: AbstractBaseUser, session: CourseSession) -> Enrollment | None:
    try:
        return Enrollment.objects.get(user_id=user.pk, session=session)
    except Enrollment.DoesNotExist:
        return None


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
