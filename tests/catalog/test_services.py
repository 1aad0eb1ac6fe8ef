"""Enrollment changes write only if the enrollment is still as the caller read it."""

from datetime import timedelta

import pytest

from tessera.catalog.errors import EnrollmentConflict
from tessera.catalog.models import Enrollment
from tessera.catalog.services import enrollment_enroll, proctoring_book, reactivation_start


@pytest.mark.django_db
class TestEnrollmentEnroll:
    def test_enrolls_a_learner_without_enrollment(self, learner, running_session):
        enrollment_enroll(user=learner, session=running_session, enrollment=None)
        assert Enrollment.objects.get(user=learner).active

    def test_restores_an_ended_enrollment(self, learner, running_session):
        ended = Enrollment.objects.create(user=learner, session=running_session, active=False)
        enrollment_enroll(user=learner, session=running_session, enrollment=ended)
        assert Enrollment.objects.get(pk=ended.pk).active

    def test_a_learner_enrolled_meanwhile_is_a_conflict(self, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session)
        with pytest.raises(EnrollmentConflict):
            enrollment_enroll(user=learner, session=running_session, enrollment=None)

    def test_an_enrollment_restored_meanwhile_is_a_conflict(self, learner, running_session):
        stale = Enrollment.objects.create(user=learner, session=running_session, active=False)
        Enrollment.objects.filter(pk=stale.pk).update(active=True)
        with pytest.raises(EnrollmentConflict):
            enrollment_enroll(user=learner, session=running_session, enrollment=stale)


@pytest.mark.django_db
class TestProctoringBook:
    def test_books_an_active_enrollment(self, learner, running_session):
        enrollment = Enrollment.objects.create(user=learner, session=running_session)
        proctoring_book(enrollment=enrollment)
        assert Enrollment.objects.get(pk=enrollment.pk).proctored

    def test_booked_meanwhile_is_a_conflict(self, learner, running_session):
        enrollment = Enrollment.objects.create(user=learner, session=running_session, proctored=True)
        with pytest.raises(EnrollmentConflict):
            proctoring_book(enrollment=enrollment)


@pytest.mark.django_db
class TestReactivationStart:
    def test_reactivated_meanwhile_is_a_conflict(self, learner, ended_session, now):
        stale = Enrollment.objects.create(user=learner, session=ended_session)
        Enrollment.objects.filter(pk=stale.pk).update(reactivated_until=now + timedelta(weeks=1))
        with pytest.raises(EnrollmentConflict):
            reactivation_start(
                user=learner, session=ended_session, enrollment=stale, now=now, until=now + timedelta(weeks=8)
            )
        assert Enrollment.objects.get(pk=stale.pk).reactivated_until == now + timedelta(weeks=1)

    def test_an_expired_reactivation_is_renewed(self, learner, ended_session, now):
        stale = Enrollment.objects.create(
            user=learner, session=ended_session, reactivated_until=now - timedelta(days=1)
        )
        reactivation_start(
            user=learner, session=ended_session, enrollment=stale, now=now, until=now + timedelta(weeks=8)
        )
        assert Enrollment.objects.get(pk=stale.pk).reactivated_until == now + timedelta(weeks=8)
