"""`tessera send-codes`: a code of a batch to each recipient of a file, mailed by the task worker
or at once (--now); a file with lines to fix assigns nothing and names them."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.vouchers.models import Assignment
from tests.commands import run_command, run_worker
from tests.mailserver import REFUSED


@pytest.fixture
def batch(enrollment_offer, make_batch):
    return make_batch(enrollment_offer, count=3)


def recipients(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.django_db(transaction=True)
class TestTheWorkerSends:
    def test_the_task_worker_mails_what_the_command_queued(self, batch, tmp_path, inbox):
        path = recipients(tmp_path, "email,name,language", "ada@example.org,Ada,de", "bob@example.org")
        out = run_command("send_codes", str(batch.pk), str(path))
        assert "Queued mail job" in out
        assert "2 codes of batch" in out
        assert inbox.received == []
        run_worker()
        assert sorted(mail.to[0] for mail in inbox.received) == ["ada@example.org", "bob@example.org"]
        assert set(Assignment.objects.values_list("state", flat=True)) == {"sent"}


class TestSendCodes:
    def test_now_mails_in_the_command_and_reports_a_refusal(self, batch, tmp_path, inbox):
        out = run_command("send_codes", str(batch.pk), str(recipients(tmp_path, "ada@example.org", REFUSED)), "--now")
        assert "done: 1 sent, 1 failed of 2" in out
        assert Assignment.objects.get(email=REFUSED).state == "failed"

    def test_a_bad_line_is_named_and_nothing_is_assigned(self, batch, tmp_path, public_url):
        err = StringIO()
        path = recipients(tmp_path, "ada@example.org", "not-an-address", "ADA@example.org")
        with pytest.raises(CommandError, match=r"recipients_refused: 2 lines need fixing in people\.csv"):
            call_command("send_codes", str(batch.pk), str(path), stderr=err)
        assert err.getvalue().splitlines() == [
            "Line 2: 'not-an-address': not an email address",
            "Line 3: 'ADA@example.org': given twice: first on line 1",
        ]
        assert not Assignment.objects.exists()

    def test_more_recipients_than_codes_is_refused(self, batch, tmp_path, public_url):
        path = recipients(tmp_path, *(f"p{n}@example.org" for n in range(4)))
        with pytest.raises(CommandError, match=r"not_enough_codes: Batch \d+ has 3 codes left to assign, for 4"):
            run_command("send_codes", str(batch.pk), str(path))

    def test_an_unknown_batch_or_missing_file_is_an_error(self, batch, tmp_path, public_url):
        with pytest.raises(CommandError, match="not_found"):
            run_command("send_codes", "999", str(recipients(tmp_path, "a@example.org")))
        with pytest.raises(CommandError, match="cannot read"):
            run_command("send_codes", str(batch.pk), str(tmp_path / "missing.csv"))
