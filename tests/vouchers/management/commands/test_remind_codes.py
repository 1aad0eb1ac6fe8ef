"""`tessera remind-codes`: reminders to those of a batch who have not redeemed their code."""

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from tessera.vouchers.models import Assignment
from tessera.vouchers.services import Recipient, assignments_create, send_job_run
from tests.commands import run_command


class TestRemindCodes:
    def test_those_mailed_days_ago_are_reminded_once(
        self, enrollment_offer, make_batch, inbox, django_capture_on_commit_callbacks
    ):
        batch = make_batch(enrollment_offer, count=1)
        with django_capture_on_commit_callbacks(execute=True):
            job = assignments_create(batch=batch, recipients=[Recipient(1, "a@x.org")], actor="s")
        send_job_run(job_id=job.pk)
        Assignment.objects.update(sent_at=timezone.now() - timedelta(days=3))
        assert "1 sent" in run_command("remind_codes", str(batch.pk), "--days", "3", "--now")
        assert inbox.received[-1].message["Subject"].startswith("Reminder")
        assert run_command("remind_codes", str(batch.pk), "--days", "3") == "No reminders to send.\n"

    def test_days_out_of_range_are_refused(self, enrollment_offer, make_batch, public_url):
        batch = make_batch(enrollment_offer, count=1)
        with pytest.raises(CommandError, match="invalid_input"):
            run_command("remind_codes", str(batch.pk), "--days", "0")
