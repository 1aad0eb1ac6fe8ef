"""`tessera resend-codes`: the failed mails of a batch again, or one assignment's."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import Assignment
from tessera.vouchers.services import Recipient, assignments_create, send_job_run
from tests.commands import run_command
from tests.mailserver import REFUSED


@pytest.fixture
def mailed(enrollment_offer, make_batch, inbox, django_capture_on_commit_callbacks):
    batch = make_batch(enrollment_offer, count=3)
    with django_capture_on_commit_callbacks(execute=True):
        job = assignments_create(batch=batch, recipients=[Recipient(1, "a@x.org"), Recipient(2, REFUSED)], actor="s")
    send_job_run(job_id=job.pk)
    return batch


class TestResendCodes:
    def test_the_failed_ones_are_sent_again(self, mailed, inbox):
        inbox.refuse.clear()
        out = run_command("resend_codes", str(mailed.pk), "--now")
        assert "1 sent, 0 failed of 1" in out
        assert len(inbox.to(REFUSED)) == 1

    def test_one_assignment_is_sent_again(self, mailed, inbox):
        sent = Assignment.objects.get(email="a@x.org")
        run_command("resend_codes", str(mailed.pk), "--assignment", str(sent.pk), "--now")
        assert len(inbox.to("a@x.org")) == 2

    def test_nothing_failed_nothing_to_send(self, mailed, inbox):
        Assignment.objects.filter(email=REFUSED).update(state="withdrawn")
        assert run_command("resend_codes", str(mailed.pk)) == "No codes to send.\n"

    def test_an_assignment_of_another_batch_is_not_found(self, mailed, enrollment_offer, make_batch):
        other = make_batch(enrollment_offer, count=1)
        with pytest.raises(CommandError, match="not_found"):
            run_command("resend_codes", str(other.pk), "--assignment", str(Assignment.objects.first().pk))
