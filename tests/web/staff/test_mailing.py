"""The staff pages that mail codes (tessera.web.staff.mailing): "Send codes" from a pasted list or
a CSV file, the job's progress, to whom the codes went, sending again, reminding, withdrawing,
and the templates; a real SMTP server receives the mails."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tessera.vouchers.models import Assignment, AuditEvent, MessageTemplate, SendJob
from tessera.vouchers.services import send_job_run
from tests.conftest import clerk_with
from tests.mailserver import REFUSED
from tests.web.pages import text


@pytest.fixture
def batch(enrollment_offer, make_batch):
    return make_batch(enrollment_offer, count=3)


@pytest.fixture
def send(manager_client, batch, django_capture_on_commit_callbacks):
    """Posts "Send codes" and, if it queued a job, runs it as the task worker would."""

    def post(fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(f"/staff/batches/{batch.pk}/mail/send", fields)
        job = SendJob.objects.order_by("-pk").first()
        if response.status_code == 303 and job is not None:
            send_job_run(job_id=job.pk)
        return response

    return post


class TestSendCodes:
    def test_a_pasted_list_is_mailed_and_the_job_page_settles_on_done(self, manager_client, send, inbox, batch):
        response = send({"pasted": "ada@example.org\nbob@example.org,Bob,de\n"})
        assert response.status_code == 303
        job = SendJob.objects.get()
        assert response["Location"] == f"/staff/mail-jobs/{job.pk}"
        page = manager_client.get(f"/staff/mail-jobs/{job.pk}/progress")
        assert "Done: 2 sent, 0 failed." in text(page)
        assert "hx-get" not in text(page)  # settled: no more polling
        assert sorted(mail.to[0] for mail in inbox.received) == ["ada@example.org", "bob@example.org"]
        assert AuditEvent.objects.get(action="assigned").actor.startswith("user:")

    def test_a_csv_file_is_read_with_its_header(self, send, inbox):
        upload = SimpleUploadedFile("people.csv", b"email,name,language\nada@example.org,Ada,de\n")
        assert send({"file": upload}).status_code == 303
        assert inbox.received[0].message["Content-Language"] == "de"

    def test_a_bad_line_is_shown_with_its_number_and_nothing_is_assigned(self, send, public_url):
        response = send({"pasted": "ada@example.org\nnot-an-address\n"})
        assert response.status_code == 422
        assert "Line 2: not-an-address: not an email address" in text(response)
        assert not Assignment.objects.exists()

    def test_neither_or_both_inputs_is_refused(self, send, public_url):
        assert send({}).status_code == 422
        both = send({"pasted": "a@x.org", "file": SimpleUploadedFile("p.csv", b"b@x.org\n")})
        assert both.status_code == 422
        assert not Assignment.objects.exists()

    def test_not_enough_codes_is_said_and_nothing_assigned(self, send, public_url):
        response = send({"pasted": "\n".join(f"p{n}@example.org" for n in range(4))})
        assert response.status_code == 422
        assert "3 codes left to assign, for 4 recipients" in text(response)


class TestTheMailPage:
    def test_it_lists_to_whom_state_and_redeemed_and_filters_by_state(
        self, manager_client, send, inbox, batch, learner, running_session
    ):
        send({"pasted": f"ada@example.org\n{REFUSED}\n"})
        page = text(manager_client.get(f"/staff/batches/{batch.pk}/mail"))
        assert "ada@example.org" in page
        assert "Failed: Refused by the mail server: 550" in page
        failed = text(manager_client.get(f"/staff/batches/{batch.pk}/mail", {"state": "failed"}))
        assert REFUSED in failed
        assert "ada@example.org" not in failed

    def test_resend_failed_remind_and_withdraw(
        self, manager_client, send, inbox, batch, django_capture_on_commit_callbacks
    ):
        send({"pasted": f"ada@example.org\n{REFUSED}\n"})
        inbox.refuse.clear()
        with django_capture_on_commit_callbacks(execute=True):
            resent = manager_client.post(f"/staff/batches/{batch.pk}/mail/resend-failed")
        assert resent.status_code == 303
        send_job_run(job_id=SendJob.objects.order_by("-pk").first().pk)
        assert len(inbox.to(REFUSED)) == 1
        Assignment.objects.update(sent_at=timezone.now() - timedelta(days=8))
        with django_capture_on_commit_callbacks(execute=True):
            manager_client.post(f"/staff/batches/{batch.pk}/mail/remind", {"days": 7})
        assert send_job_run(job_id=SendJob.objects.order_by("-pk").first().pk).kind == "remind"
        ada = Assignment.objects.get(email="ada@example.org")
        with django_capture_on_commit_callbacks(execute=True):
            manager_client.post(f"/staff/assignments/{ada.pk}/withdraw", {"email": "carl@example.org"})
        send_job_run(job_id=SendJob.objects.order_by("-pk").first().pk)
        ada.refresh_from_db()
        assert ada.state == "withdrawn"
        assert ada.code.revoked_at is not None
        assert inbox.to("carl@example.org")
        again = manager_client.post(f"/staff/assignments/{ada.pk}/resend", follow=True)
        assert "Only a sent or failed assignment" in text(again)

    def test_a_clerk_without_the_voucher_permission_sends_nothing(self, client, batch, public_url):
        client.force_login(clerk_with("view_batch", "view_code"))
        assert client.get(f"/staff/batches/{batch.pk}/mail").status_code == 403
        assert client.post(f"/staff/batches/{batch.pk}/mail/send", {"pasted": "a@x.org"}).status_code == 403
        assert client.post("/staff/mail-templates/edit", {"kind": "code", "language": "en"}).status_code == 403
        assert not Assignment.objects.exists()

    def test_unknown_batches_jobs_and_assignments_are_404(self, manager_client):
        for url in ("/staff/batches/77/mail", "/staff/mail-jobs/77"):
            assert manager_client.get(url).status_code == 404
        assert manager_client.post("/staff/assignments/77/withdraw").status_code == 404


class TestTemplates:
    def test_the_editor_starts_from_the_built_in_text_and_saves(self, manager_client):
        page = manager_client.get("/staff/mail-templates/edit", {"kind": "code", "language": "de"})
        assert "Ihr Code für" in text(page)
        fields = {"kind": "code", "language": "de", "subject": "Code {{ code }}", "body": "{{ redeem_link }}"}
        assert manager_client.post("/staff/mail-templates/edit", fields).status_code == 303
        assert MessageTemplate.objects.get().subject == "Code {{ code }}"
        assert "yours, changed" in text(manager_client.get("/staff/mail-templates"))

    @pytest.mark.parametrize("language", ["a\x00b", "x" * 40, "<script>"])
    def test_a_language_no_template_can_have_opens_the_default_languages(self, manager_client, language):
        page = manager_client.get("/staff/mail-templates/edit", {"kind": "reminder", "language": language})
        assert page.status_code == 200
        assert page.context["form"].initial["language"] == "en"

    def test_a_template_that_does_not_parse_is_shown_beside_its_field(self, manager_client):
        fields = {"kind": "code", "language": "de", "subject": "x", "body": "{% if %}"}
        response = manager_client.post("/staff/mail-templates/edit", fields)
        assert response.status_code == 422
        assert "not a valid template" in text(response)
        assert not MessageTemplate.objects.exists()
