"""`tessera withdraw-assignment`: the mailed code stops working; --to mails a fresh one elsewhere."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import Assignment
from tessera.vouchers.services import Recipient, assignments_create, send_job_run
from tests.commands import run_command


@pytest.fixture
def assignment(enrollment_offer, make_batch, inbox, django_capture_on_commit_callbacks) -> Assignment:
    batch = make_batch(enrollment_offer, count=2)
    with django_capture_on_commit_callbacks(execute=True):
        job = assignments_create(batch=batch, recipients=[Recipient(1, "a@x.org")], actor="s")
    send_job_run(job_id=job.pk)
    return Assignment.objects.get()


class TestWithdrawAssignment:
    def test_the_code_is_revoked_and_a_fresh_one_goes_to_the_new_address(self, assignment, inbox):
        out = run_command("withdraw_assignment", str(assignment.pk), "--to", "b@x.org", "--language", "de", "--now")
        assert f"code {assignment.code_id} is revoked" in out
        assignment.refresh_from_db()
        assert assignment.code.revoked_at is not None
        assert inbox.to("b@x.org")[0].message["Content-Language"] == "de"

    def test_twice_is_refused(self, assignment):
        run_command("withdraw_assignment", str(assignment.pk))
        with pytest.raises(CommandError, match="already_withdrawn"):
            run_command("withdraw_assignment", str(assignment.pk))
