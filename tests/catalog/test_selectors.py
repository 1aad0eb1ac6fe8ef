"""Reads about the catalog (tessera.catalog.selectors): exam deadlines, moved out by a reactivation."""

from datetime import timedelta

from tessera.catalog.models import Enrollment, Exam
from tessera.catalog.selectors import exam_deadline_for, first_proctored_deadline


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
