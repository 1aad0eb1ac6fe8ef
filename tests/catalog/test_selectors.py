"""Reads about the catalog (tessera.catalog.selectors): a session by its slug, a learner's
enrollment, the seats taken, and exam deadlines, moved out by a reactivation."""

from datetime import timedelta

import pytest

from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession, Enrollment, Exam
from tessera.catalog.selectors import (
    active_enrollment_count,
    assessment_by_slug,
    assessments_shown,
    enrollment_for,
    entitlement_for,
    entitlements_of,
    exam_deadline_for,
    exam_deadlines,
    first_proctored_deadline,
    session_by_slug,
)
from tessera.catalog.services import enrollment_enroll, reactivation_start
from tessera.core.errors import InvalidInput
from tests.rows import columns_of


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


class TestSessionBySlug:
    def test_the_session_comes_with_its_course(self, running_session, django_assert_num_queries):
        with django_assert_num_queries(1):
            session = session_by_slug("python-2026")
            assert (session, session.course.title) == (running_session, "Python")

    def test_an_unknown_slug_is_invalid_input_on_the_session(self, db):
        with pytest.raises(InvalidInput, match="There is no course session 'python-1999'") as refused:
            session_by_slug("python-1999")
        assert refused.value.field == "session"


class TestEnrollments:
    def test_a_learners_enrollment_in_a_session_or_none(self, running_session, ended_session, learner, other_learner):
        enrollment = Enrollment.objects.create(user=learner, session=running_session)
        assert enrollment_for(user=learner, session=running_session) == enrollment
        assert enrollment_for(user=learner, session=ended_session) is None
        assert enrollment_for(user=other_learner, session=running_session) is None

    def test_only_active_enrollments_take_a_seat(self, running_session, make_learners):
        first, second, third = make_learners(3)
        for user, active in ((first, True), (second, True), (third, False)):
            Enrollment.objects.create(user=user, session=running_session, active=active)
        assert active_enrollment_count(running_session) == 2

    def test_each_exam_with_the_deadline_that_holds_for_the_learner(self, ended_session, learner, now):
        until = now + timedelta(weeks=8)
        enrollment = Enrollment.objects.create(user=learner, session=ended_session, reactivated_until=until)
        [(exam, deadline)] = exam_deadlines(session=ended_session, enrollment=enrollment)
        assert (exam.title, deadline) == ("Final", until)
        [(_, deadline)] = exam_deadlines(session=ended_session, enrollment=None)
        assert deadline == exam.submission_deadline


# The catalog's hand-written reads (docs/architecture.md, "Where Tessera writes SQL by hand")
# find what the ORM finds.


class TestSessionBySlugAgreesWithTheOrm:
    def test_finds_the_session_and_its_course_as_the_orm_does(self, running_session, ended_session):
        for slug in (running_session.slug, ended_session.slug):
            found = session_by_slug(slug)
            expected = CourseSession.objects.select_related("course").get(slug=slug)
            assert (columns_of(found), columns_of(found.course)) == (columns_of(expected), columns_of(expected.course))

    def test_an_unknown_slug_is_invalid_input_where_the_orm_finds_none(self, running_session):
        assert not CourseSession.objects.filter(slug="no-such-session").exists()
        with pytest.raises(InvalidInput):
            session_by_slug("no-such-session")


class TestEnrollmentFor:
    def test_finds_the_enrollment_the_orm_finds_or_none(
        self, learner, other_learner, running_session, ended_session, now
    ):
        enrollment_enroll(user=learner, session=running_session, enrollment=None)
        reactivation_start(user=learner, session=ended_session, enrollment=None, now=now, until=now)
        for user in (learner, other_learner):
            for session in (running_session, ended_session):
                expected = Enrollment.objects.filter(user=user, session=session).first()
                assert columns_of(enrollment_for(user=user, session=session)) == columns_of(expected)
        assert Enrollment.objects.filter(user=learner).count() == 2


class TestAssessments:
    def test_an_assessment_by_its_slug_with_its_course(self, assessment, django_assert_num_queries):
        with django_assert_num_queries(1):
            found = assessment_by_slug("python-exam")
            assert (found, found.course.slug) == (assessment, "python")

    def test_an_unknown_slug_is_invalid_input(self, db):
        with pytest.raises(InvalidInput) as refused:
            assessment_by_slug("nope")
        assert refused.value.field == "assessment"

    def test_a_learners_active_entitlements_and_nobody_elses(self, learner, other_learner, assessment, lone_assessment):
        mine = AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=2)
        AssessmentEntitlement.objects.create(user=learner, assessment=lone_assessment, active=False)
        AssessmentEntitlement.objects.create(user=other_learner, assessment=lone_assessment)
        assert list(entitlements_of(learner)) == [mine]
        assert entitlement_for(user=learner, assessment=assessment) == mine
        assert entitlement_for(user=other_learner, assessment=assessment) is None

    def test_the_active_assessments_of_a_course_or_those_standing_alone(self, course, assessment, lone_assessment):
        Assessment.objects.create(slug="retired", title="Retired", active=False)
        assert list(assessments_shown(course=course)) == [assessment]
        assert list(assessments_shown()) == [lone_assessment]
