"""Reads for the learner pages: sessions with the visitor's enrollments, and which voucher
forms a session shows."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch

from tessera.catalog.models import Assessment, Course, CourseSession, Enrollment, Exam
from tessera.catalog.selectors import exam_deadlines
from tessera.vouchers import config
from tessera.vouchers.models import Product
from tessera.vouchers.products import SESSION, product_rule, products_at, products_held


@dataclass(frozen=True)
class SessionRow:
    """A session as a page lists it, with the visitor's enrollment (None if they have none)."""

    session: CourseSession
    enrollment: Enrollment | None
    reactivatable: bool
    deadlines: list[tuple[Exam, datetime]]


def products_shown(session: CourseSession) -> list[str]:
    """The products whose voucher form the session's page shows: vouchers on, the product on,
    and the session offering it."""
    if not config.vouchers_enabled():
        return []
    return [
        name for name in products_at(SESSION) if config.product_enabled(name) and product_rule(name).offered_by(session)
    ]


def assessment_form_shown(assessment: Assessment, now: datetime) -> bool:
    """Whether the assessment's page shows its code form: vouchers and the product on, and the
    assessment open (a closed one's codes are refused as product_unavailable)."""
    on = config.vouchers_enabled() and config.product_enabled(Product.ASSESSMENT)
    return on and assessment.closed_reason(now) is None


def products_to_offer(session: CourseSession, enrollment: Enrollment | None, now: datetime) -> list[str]:
    """The voucher forms a visitor sees: those the session shows, less what they hold already
    (an active enrollment, a proctoring booking, a running reactivation)."""
    held = products_held(enrollment, now)
    return [product for product in products_shown(session) if product not in held]


def reactivatable(
    *, user: AbstractBaseUser | AnonymousUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
) -> bool:
    """Whether a Reactivate action leads anywhere: the form is shown and the product's own rule
    would let this visitor through (anonymous visitors count as not enrolled)."""
    if Product.REACTIVATION not in products_shown(session):
        return False
    reactivation = product_rule(Product.REACTIVATION)
    return reactivation.refusal(user=user, place=session, holding=enrollment, now=now) is None  # type: ignore[arg-type]


def courses_with_sessions(
    user: AbstractBaseUser | AnonymousUser, now: datetime
) -> list[tuple[Course, list[SessionRow]]]:
    """Every course with its sessions, oldest first, and the visitor's enrollment in each."""
    mine = _enrollments_by_session(user)
    sessions = CourseSession.objects.order_by("starts_at").prefetch_related("exams")
    courses = Course.objects.prefetch_related(Prefetch("sessions", sessions))
    return [
        (course, [_row(user, session, mine.get(session.pk), now) for session in course.sessions.all()])
        for course in courses
    ]


def dashboard_rows(user: AbstractBaseUser, now: datetime) -> list[SessionRow]:
    """The user's enrollments (active, or kept for a reactivation), newest first."""
    enrollments = (
        Enrollment.objects.filter(user_id=user.pk)
        .select_related("session__course")
        .prefetch_related("session__exams")
        .order_by("-created_at")
    )
    return [_row(user, enrollment.session, enrollment, now) for enrollment in enrollments]


def _row(
    user: AbstractBaseUser | AnonymousUser, session: CourseSession, enrollment: Enrollment | None, now: datetime
) -> SessionRow:
    can_reactivate = reactivatable(user=user, session=session, enrollment=enrollment, now=now)
    deadlines = exam_deadlines(session=session, enrollment=enrollment) if enrollment else []
    return SessionRow(session=session, enrollment=enrollment, reactivatable=can_reactivate, deadlines=deadlines)


def _enrollments_by_session(user: AbstractBaseUser | AnonymousUser) -> dict[int, Enrollment]:
    if not user.is_authenticated:
        return {}
    return {enrollment.session_id: enrollment for enrollment in Enrollment.objects.filter(user_id=user.pk)}
