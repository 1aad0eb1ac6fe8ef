"""Tests for tessera.vouchers.selectors.assignments: which codes may be assigned, which
assignments may be mailed again or reminded, and the lookups a surface needs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Assignment, Code
from tessera.vouchers.selectors.assignments import (
    assignable_codes,
    assignment_numbered,
    batch_assignments,
    code_assignments,
    due_for_reminder,
    resendable,
    send_job_numbered,
)


@pytest.fixture
def batch(enrollment_offer, make_batch):
    return make_batch(enrollment_offer, count=4)


def assign(code: Code, email: str, **fields) -> Assignment:
    return Assignment.objects.create(
        code=code, batch=code.batch, email=email, assigned_at=timezone.now(), **{"state": "sent", **fields}
    )


class TestAssignableCodes:
    def test_live_unused_unassigned_codes_in_code_order(self, batch, now):
        revoked, used, assigned, free = batch.codes.order_by("code")
        Code.objects.filter(pk=revoked.pk).update(revoked_at=now)
        Code.objects.filter(pk=used.pk).update(uses=1)
        assign(assigned, "a@x.org")
        assert list(assignable_codes(batch, now=now)) == [free]

    def test_a_withdrawn_assignment_frees_its_code(self, batch, now):
        code = batch.codes.order_by("code").first()
        assign(code, "a@x.org", state="withdrawn")
        assert code in assignable_codes(batch, now=now)

    def test_an_expired_or_revoked_batch_has_none(self, batch, now):
        assert assignable_codes(batch, now=batch.created_at + timedelta(days=1)).count() == 4
        batch.expires_at = now
        assert not assignable_codes(batch, now=now).exists()
        batch.expires_at, batch.revoked_at = None, now
        assert not assignable_codes(batch, now=now).exists()


class TestResendableAndDue:
    def test_only_sent_or_failed_with_a_working_code_and_no_mail_on_its_way(self, batch, now):
        codes = list(batch.codes.order_by("code"))
        sent, failed = assign(codes[0], "a@x.org"), assign(codes[1], "b@x.org", state="failed")
        assign(codes[2], "c@x.org", state="queued")
        redeemed = assign(codes[3], "d@x.org")
        Code.objects.filter(pk=redeemed.code_id).update(uses=1)
        assert set(resendable(Assignment.objects.all(), now=now)) == {sent, failed}

    def test_due_for_reminder_after_the_cutoff_and_not_reminded_since(self, batch, now):
        codes = list(batch.codes.order_by("code"))
        cutoff = now - timedelta(days=7)
        old = assign(codes[0], "a@x.org", sent_at=cutoff - timedelta(hours=1))
        assign(codes[1], "b@x.org", sent_at=cutoff + timedelta(hours=1))
        assign(codes[2], "c@x.org", sent_at=cutoff - timedelta(days=9), reminded_at=cutoff + timedelta(hours=1))
        again = assign(codes[3], "d@x.org", sent_at=cutoff - timedelta(days=20), reminded_at=cutoff - timedelta(days=1))
        assert set(due_for_reminder(batch, cutoff=cutoff, now=now)) == {old, again}


class TestLookups:
    def test_a_batchs_assignments_newest_first_and_by_state(self, batch):
        first, second = (assign(code, f"{n}@x.org") for n, code in enumerate(batch.codes.order_by("code")[:2]))
        Assignment.objects.filter(pk=first.pk).update(state="failed")
        assert list(batch_assignments(batch)) == [second, first]
        assert list(batch_assignments(batch, state="failed")) == [first]

    def test_an_assignment_of_another_batch_is_not_found_through_this_one(self, batch, enrollment_offer, make_batch):
        other = make_batch(enrollment_offer, count=1)
        theirs = assign(other.codes.get(), "a@x.org")
        assert assignment_numbered(theirs.pk) == theirs
        with pytest.raises(DoesNotExist):
            assignment_numbered(theirs.pk, batch=batch)

    def test_a_codes_assignments_newest_first_withdrawn_ones_too(self, batch):
        code = batch.codes.order_by("code").first()
        old, new = assign(code, "a@x.org", state="withdrawn"), assign(code, "b@x.org")
        assert list(code_assignments(code)) == [new, old]

    def test_a_missing_mail_job_is_does_not_exist(self, db):
        with pytest.raises(DoesNotExist):
            send_job_numbered(404)
