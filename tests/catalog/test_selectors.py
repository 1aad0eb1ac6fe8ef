"""The catalog's hand-written reads (docs/architecture.md, "Where Tessera writes SQL by hand")
find what the ORM finds."""

import pytest

from tessera.catalog.models import CourseSession, Enrollment
from tessera.catalog.selectors import enrollment_for, session_by_slug
from tessera.catalog.services import enrollment_enroll, reactivation_start
from tessera.core.errors import InvalidInput
from tests.rows import columns_of


class TestSessionBySlug:
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
