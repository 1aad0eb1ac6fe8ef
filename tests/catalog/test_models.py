"""The catalog's models (tessera.catalog.models): a session's reactivation period, its enrollment
window, and the end that may not come before the start."""

from datetime import timedelta

import pytest
from django.db import IntegrityError

from tessera.catalog.models import CourseSession


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
