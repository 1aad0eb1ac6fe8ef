"""The learner pages' reads: which voucher forms a session shows and a visitor gets, whether a
Reactivate action leads anywhere, the course list with the visitor's enrollments, and the
dashboard's rows; the lists in a fixed number of queries however many rows they hold."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User

from tessera.catalog.models import Course, CourseSession, Enrollment, Exam
from tessera.vouchers.models import Product
from tessera.web.selectors import (
    SessionRow,
    courses_with_sessions,
    dashboard_rows,
    products_shown,
    products_to_offer,
    reactivatable,
)

pytestmark = pytest.mark.django_db

ENROLLMENT, PROCTORING, REACTIVATION = Product.ENROLLMENT, Product.PROCTORING, Product.REACTIVATION


def sessions_listed(rows: list[tuple[Course, list[SessionRow]]]) -> list[tuple[str, list[str]]]:
    return [(course.slug, [row.session.slug for row in session_rows]) for course, session_rows in rows]


def another_course(slug: str, now: datetime, *, sessions: int = 2) -> Course:
    """A course with `sessions` ended sessions a year apart (reactivation on, one graded exam each)."""
    course = Course.objects.create(slug=slug, title=slug.title())
    for number in range(sessions):
        ends = now - timedelta(weeks=8 + 52 * number)
        session = CourseSession.objects.create(
            course=course, slug=f"{slug}-{number}", state=CourseSession.State.ARCHIVED,
            starts_at=ends - timedelta(weeks=12), ends_at=ends, reactivation_enabled=True,
        )  # fmt: skip
        Exam.objects.create(session=session, title="Final", submission_deadline=ends, graded=True)
    return course


class TestProductsShown:
    def test_a_session_shows_the_products_it_offers(
        self, running_session: CourseSession, ended_session: CourseSession
    ) -> None:
        assert products_shown(running_session) == [ENROLLMENT, PROCTORING]  # no reactivation while running
        assert products_shown(ended_session) == [ENROLLMENT, REACTIVATION]  # no proctored certificate

    def test_a_product_switched_off_is_not_shown(self, running_session: CourseSession, settings: Any) -> None:
        settings.TESSERA_PRODUCTS_ENABLED = [ENROLLMENT, REACTIVATION]
        assert products_shown(running_session) == [ENROLLMENT]

    def test_with_vouchers_off_none_is_shown(self, running_session: CourseSession, settings: Any) -> None:
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert products_shown(running_session) == []


class TestProductsToOffer:
    def test_a_visitor_without_an_enrollment_is_offered_all_the_session_shows(
        self, running_session: CourseSession, now: datetime
    ) -> None:
        assert products_to_offer(running_session, None, now) == [ENROLLMENT, PROCTORING]

    def test_an_enrolled_learner_is_offered_proctoring_only_and_after_booking_it_nothing(
        self, learner: User, running_session: CourseSession, now: datetime
    ) -> None:
        enrollment = Enrollment.objects.create(user=learner, session=running_session)
        assert products_to_offer(running_session, enrollment, now) == [PROCTORING]
        enrollment.proctored = True
        assert products_to_offer(running_session, enrollment, now) == []

    def test_a_withdrawn_enrollment_can_be_had_again(
        self, learner: User, running_session: CourseSession, now: datetime
    ) -> None:
        withdrawn = Enrollment.objects.create(user=learner, session=running_session, active=False)
        assert products_to_offer(running_session, withdrawn, now) == [ENROLLMENT, PROCTORING]

    def test_a_running_reactivation_is_not_offered_again_an_ended_one_is(
        self, learner: User, ended_session: CourseSession, now: datetime
    ) -> None:
        enrollment = Enrollment.objects.create(
            user=learner, session=ended_session, active=False, reactivated_until=now + timedelta(days=1)
        )
        assert products_to_offer(ended_session, enrollment, now) == [ENROLLMENT]
        assert products_to_offer(ended_session, enrollment, now + timedelta(days=2)) == [ENROLLMENT, REACTIVATION]


class TestReactivatable:
    def test_an_ended_session_is_for_a_learner_and_an_anonymous_visitor_alike(
        self, learner: User, ended_session: CourseSession, now: datetime
    ) -> None:
        assert reactivatable(user=learner, session=ended_session, enrollment=None, now=now)
        assert reactivatable(user=AnonymousUser(), session=ended_session, enrollment=None, now=now)

    def test_a_running_session_is_not_even_with_reactivation_on(
        self, learner: User, running_session: CourseSession, now: datetime
    ) -> None:
        assert not reactivatable(user=learner, session=running_session, enrollment=None, now=now)
        running_session.reactivation_enabled = True
        assert REACTIVATION in products_shown(running_session)
        assert not reactivatable(user=learner, session=running_session, enrollment=None, now=now)

    def test_a_session_reactivated_for_the_learner_already_is_not(
        self, learner: User, ended_session: CourseSession, now: datetime
    ) -> None:
        enrollment = Enrollment.objects.create(
            user=learner, session=ended_session, reactivated_until=now + timedelta(weeks=4)
        )
        assert not reactivatable(user=learner, session=ended_session, enrollment=enrollment, now=now)

    @pytest.mark.parametrize(
        "switch", [{"TESSERA_VOUCHERS_ENABLED": False}, {"TESSERA_PRODUCTS_ENABLED": [ENROLLMENT, PROCTORING]}]
    )
    def test_with_vouchers_or_reactivation_off_none_is(
        self, learner: User, ended_session: CourseSession, now: datetime, settings: Any, switch: dict[str, object]
    ) -> None:
        for name, value in switch.items():
            setattr(settings, name, value)
        assert not reactivatable(user=learner, session=ended_session, enrollment=None, now=now)


class TestCoursesWithSessions:
    def test_every_course_with_its_sessions_oldest_first(
        self, running_session: CourseSession, ended_session: CourseSession, now: datetime
    ) -> None:
        another_course("rust", now)
        listed = sessions_listed(courses_with_sessions(AnonymousUser(), now))
        assert sorted(listed) == [("python", ["python-2025", "python-2026"]), ("rust", ["rust-1", "rust-0"])]

    def test_an_anonymous_visitor_has_no_enrollments_and_no_deadlines(
        self, running_session: CourseSession, ended_session: CourseSession, now: datetime
    ) -> None:
        [(_, rows)] = courses_with_sessions(AnonymousUser(), now)
        assert [(row.enrollment, row.deadlines, row.reactivatable) for row in rows] == [
            (None, [], True), (None, [], False),
        ]  # fmt: skip

    def test_a_learner_sees_their_own_enrollment_and_its_deadlines_not_another_learners(
        self,
        learner: User,
        other_learner: User,
        running_session: CourseSession,
        ended_session: CourseSession,
        now: datetime,
    ) -> None:
        mine = Enrollment.objects.create(user=learner, session=running_session)
        Enrollment.objects.create(user=other_learner, session=ended_session)
        [(_, [ended, running])] = courses_with_sessions(learner, now)
        assert (ended.enrollment, ended.deadlines) == (None, [])
        assert running.enrollment == mine
        assert [(exam.title, deadline) for exam, deadline in running.deadlines] == [
            (exam.title, exam.submission_deadline) for exam in running_session.exams.order_by("submission_deadline")
        ]

    def test_a_reactivation_moves_the_graded_deadline_and_ends_the_reactivate_action(
        self, learner: User, ended_session: CourseSession, now: datetime
    ) -> None:
        until = now + timedelta(weeks=8)
        Enrollment.objects.create(user=learner, session=ended_session, reactivated_until=until)
        [(_, [row])] = courses_with_sessions(learner, now)
        [(exam, deadline)] = row.deadlines
        assert (exam.title, deadline, row.reactivatable) == ("Final", until, False)

    def test_reads_in_the_same_queries_however_many_courses_and_sessions(
        self,
        learner: User,
        running_session: CourseSession,
        ended_session: CourseSession,
        now: datetime,
        django_assert_num_queries: Any,
    ) -> None:
        Enrollment.objects.create(user=learner, session=running_session)
        with django_assert_num_queries(4):  # the learner's enrollments, courses, sessions, exams
            courses_with_sessions(learner, now)
        for slug in ["rust", "go", "zig"]:
            for session in another_course(slug, now, sessions=3).sessions.all():
                Enrollment.objects.create(user=learner, session=session)
        with django_assert_num_queries(4):
            rows = courses_with_sessions(learner, now)
        assert sum(len(session_rows) for _, session_rows in rows) == 11
        with django_assert_num_queries(3):  # an anonymous visitor's enrollments are not looked up
            courses_with_sessions(AnonymousUser(), now)


class TestDashboardRows:
    def test_the_learners_enrollments_newest_first_a_withdrawn_one_kept_anothers_not_shown(
        self,
        learner: User,
        other_learner: User,
        running_session: CourseSession,
        ended_session: CourseSession,
        now: datetime,
    ) -> None:
        old = Enrollment.objects.create(user=learner, session=ended_session, active=False)
        new = Enrollment.objects.create(user=learner, session=running_session, proctored=True)
        Enrollment.objects.create(user=other_learner, session=running_session)
        Enrollment.objects.filter(pk=old.pk).update(created_at=now - timedelta(weeks=30))
        rows = dashboard_rows(learner, now)
        assert [(row.enrollment, row.session) for row in rows] == [(new, running_session), (old, ended_session)]
        assert [(row.reactivatable, len(row.deadlines)) for row in rows] == [(False, 2), (True, 1)]

    def test_a_learner_without_enrollments_has_no_rows(
        self, learner: User, running_session: CourseSession, now: datetime
    ) -> None:
        assert dashboard_rows(learner, now) == []

    def test_reads_in_the_same_queries_however_many_enrollments(
        self,
        learner: User,
        running_session: CourseSession,
        ended_session: CourseSession,
        now: datetime,
        django_assert_num_queries: Any,
    ) -> None:
        Enrollment.objects.create(user=learner, session=running_session)
        with django_assert_num_queries(2):  # the enrollments with their sessions and courses, the exams
            dashboard_rows(learner, now)
        for session in another_course("rust", now, sessions=4).sessions.all():
            Enrollment.objects.create(user=learner, session=session)
        with django_assert_num_queries(2):
            assert len(dashboard_rows(learner, now)) == 5
