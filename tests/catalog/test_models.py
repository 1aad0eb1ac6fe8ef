"""The catalog's models (tessera.catalog.models): a session's reactivation period, its enrollment
window, and the end that may not come before the start; an assessment's availability window and
its one entitlement per learner."""

from datetime import timedelta

import pytest
from django.db import IntegrityError

from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession


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


@pytest.mark.django_db
def test_a_session_cannot_end_before_it_starts(course, now):
    with pytest.raises(IntegrityError):
        CourseSession.objects.create(course=course, slug="bad", starts_at=now, ends_at=now - timedelta(days=1))


class TestAssessment:
    def test_open_inside_its_window(self, assessment, now):
        assert assessment.closed_reason(now) is None

    @pytest.mark.parametrize(
        ("fields", "words"),
        [({"opens_at": timedelta(hours=1)}, "opens at"), ({"closes_at": timedelta(0)}, "has closed"),
         ({"active": False}, "not offered")],
    )  # fmt: skip
    def test_closed_before_it_opens_after_it_closes_and_when_switched_off(self, assessment, now, fields, words):
        for name, value in fields.items():
            setattr(assessment, name, now + value if isinstance(value, timedelta) else value)
        assert words in (assessment.closed_reason(now) or "")

    def test_without_a_window_it_is_always_open(self, lone_assessment, now):
        assert lone_assessment.closed_reason(now) is None
        assert (lone_assessment.course, lone_assessment.attempts, str(lone_assessment)) == (
            None,
            1,
            "SQL placement test",
        )


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [{"attempts": 0}, {"closes_at": "before"}])
def test_an_assessment_allows_an_attempt_and_closes_after_it_opens(now, fields):
    if fields.get("closes_at") == "before":
        fields = {"opens_at": now, "closes_at": now - timedelta(days=1)}
    with pytest.raises(IntegrityError):
        Assessment.objects.create(slug="bad", title="Bad", **fields)


def test_a_learner_holds_one_entitlement_per_assessment(assessment, learner):
    AssessmentEntitlement.objects.create(user=learner, assessment=assessment)
    with pytest.raises(IntegrityError):
        AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=2)
