"""Enrollment changes write only if the enrollment is still as the caller read it."""

from datetime import timedelta

import pytest

from tessera.catalog.errors import EnrollmentConflict, EntitlementConflict
from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.catalog.services import (
    enrollment_enroll,
    entitlement_add_attempts,
    entitlement_grant,
    entitlement_reduce,
    entitlement_revoke,
    proctoring_book,
    reactivation_start,
)


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


def _held(user) -> tuple[bool, int]:
    entitlement = AssessmentEntitlement.objects.get(user=user)
    return entitlement.active, entitlement.attempts


class TestEntitlementGrant:
    def test_grants_the_attempts(self, learner, assessment):
        entitlement_grant(user=learner, assessment=assessment, attempts=2, entitlement=None)
        assert _held(learner) == (True, 2)

    def test_restores_an_ended_entitlement_with_the_new_attempts(self, learner, assessment):
        ended = AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=1, active=False)
        entitlement_grant(user=learner, assessment=assessment, attempts=3, entitlement=ended)
        assert _held(learner) == (True, 3)

    def test_a_grant_raced_by_another_is_a_conflict(self, learner, assessment):
        AssessmentEntitlement.objects.create(user=learner, assessment=assessment)
        with pytest.raises(EntitlementConflict) as conflict:
            entitlement_grant(user=learner, assessment=assessment, attempts=1, entitlement=None)
        assert conflict.value.code == "not_eligible"

    def test_restoring_one_restored_meanwhile_is_a_conflict(self, learner, assessment):
        live = AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=1)
        with pytest.raises(EntitlementConflict):
            entitlement_grant(user=learner, assessment=assessment, attempts=3, entitlement=live)
        assert _held(learner) == (True, 1)


class TestEntitlementAttempts:
    def test_adds_up_to_the_most_allowed(self, learner, assessment):
        held = AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=1)
        entitlement_add_attempts(entitlement=held, attempts=2, most=3)
        assert _held(learner) == (True, 3)
        with pytest.raises(EntitlementConflict):
            entitlement_add_attempts(entitlement=held, attempts=1, most=3)
        assert _held(learner) == (True, 3)

    def test_adds_nothing_to_an_ended_entitlement(self, learner, assessment):
        ended = AssessmentEntitlement.objects.create(user=learner, assessment=assessment, active=False)
        with pytest.raises(EntitlementConflict):
            entitlement_add_attempts(entitlement=ended, attempts=1, most=3)

    def test_reducing_keeps_what_is_left_and_ends_it_at_none(self, learner, assessment):
        AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=3)
        assert entitlement_reduce(user=learner, assessment=assessment, attempts=1)
        assert _held(learner) == (True, 2)
        assert entitlement_reduce(user=learner, assessment=assessment, attempts=2)
        assert _held(learner) == (False, 2)
        assert not entitlement_reduce(user=learner, assessment=assessment, attempts=1)

    def test_revoking_ends_it_whatever_it_held(self, learner, assessment):
        AssessmentEntitlement.objects.create(user=learner, assessment=assessment, attempts=3)
        assert entitlement_revoke(user=learner, assessment=assessment)
        assert _held(learner) == (False, 3)
        assert not entitlement_revoke(user=learner, assessment=assessment)
