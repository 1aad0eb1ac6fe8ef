from datetime import timedelta

import pytest

from tessera.catalog.models import CourseSession, Enrollment, Exam
from tessera.catalog.selectors import exam_deadline_for, first_proctored_deadline


class TestCourseSession:
    def test_reactivation_period_defaults_to_the_configured_weeks(self, ended_session, settings):
        settings.TESSERA_REACTIVATION_WEEKS = 3
        assert ended_session.reactivation_period == timedelta(weeks=3)

    def test_a_session_of_its_own_period_keeps_it(self, ended_session):
        ended_session.reactivation_weeks = 12
        assert ended_session.reactivation_period == timedelta(weeks=12)

    def test_enrollment_closes_at_the_end_of_the_session_by_default(self, running_session, now):
        assert running_session.enrollment_open(now)
        assert not running_session.enrollment_open(running_session.ends_at)

    def test_enrollment_window_not_yet_open(self, running_session, now):
        running_session.enrollment_opens_at = now + timedelta(days=1)
        assert not running_session.enrollment_open(now)


class TestExamDeadlines:
    def test_first_proctored_deadline_is_the_earliest_proctored_exam(self, running_session, now):
        Exam.objects.create(session=running_session, title="Quiz", submission_deadline=now, proctored=False)
        assert (
            first_proctored_deadline(running_session) == running_session.exams.get(title="Midterm").submission_deadline
        )

    def test_a_session_without_proctored_exams_has_no_deadline(self, ended_session):
        assert first_proctored_deadline(ended_session) is None

    def test_reactivation_moves_a_graded_exam_deadline_out(self, ended_session, learner, now):
        exam = ended_session.exams.get()
        enrollment = Enrollment.objects.create(
            user=learner, session=ended_session, reactivated_until=now + timedelta(weeks=8)
        )
        assert exam_deadline_for(exam=exam, enrollment=enrollment) == now + timedelta(weeks=8)

    def test_an_ungraded_exam_keeps_its_deadline(self, ended_session, learner, now):
        exam = ended_session.exams.get()
        exam.graded = False
        enrollment = Enrollment(user=learner, session=ended_session, reactivated_until=now + timedelta(weeks=8))
        assert exam_deadline_for(exam=exam, enrollment=enrollment) == exam.submission_deadline


@pytest.mark.django_db
def test_a_session_cannot_end_before_it_starts(course, now):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        CourseSession.objects.create(course=course, slug="bad", starts_at=now, ends_at=now - timedelta(days=1))
