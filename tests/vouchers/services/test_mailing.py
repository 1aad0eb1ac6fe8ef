"""Tests for tessera.vouchers.services.mailing: what a mail says, in which language, the mail
job against a real SMTP server (a refused recipient, a server gone away), and the templates."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.core.errors import InvalidInput
from tessera.platforms.services import platform_create
from tessera.vouchers.errors import InvalidTemplate
from tessera.vouchers.models import Assignment, AuditEvent, MessageTemplate, SendJob
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import Recipient, assignments_create, send_job_run, template_save
from tessera.vouchers.services.mailing import BUILT_IN, send_jobs_requeue_stalled, wording
from tests.loopback import free_port
from tests.mailserver import REFUSED
from tests.platform_sessions import platform_session


@pytest.fixture
def batch(enrollment_offer, make_batch, now):
    return make_batch(enrollment_offer, count=5, expires_at=now + timedelta(days=30))


@pytest.fixture
def queue(batch, public_url, django_capture_on_commit_callbacks):
    def make(*recipients: Recipient) -> SendJob:
        with django_capture_on_commit_callbacks(execute=True):
            return assignments_create(batch=batch, recipients=list(recipients), actor="staff")

    return make


def shown_code(assignment: Assignment) -> str:
    return display_code(assignment.code_id, assignment.batch.prefix)


class TestTheMail:
    def test_it_holds_the_grouped_code_its_redeem_link_the_name_and_the_expiry(self, queue, inbox, batch):
        send_job_run(job_id=queue(Recipient(1, "ada@example.org", "Ada")).pk)
        assignment = Assignment.objects.get()
        [received] = inbox.received
        code = shown_code(assignment)
        assert "-" in code
        assert received.to == ["ada@example.org"]
        assert received.message["Subject"] == "Your code for Python"
        assert received.message["Content-Language"] == "en"
        assert "Hello Ada," in received.body
        assert code in received.body
        assert f"until {batch.expires_at:%Y-%m-%d %H:%M} UTC" in received.body
        link = next(word for word in received.body.split() if word.startswith("https://"))
        parts = urlsplit(link)
        assert (parts.netloc, parts.path) == ("tessera.example", "/redeem")
        assert parse_qs(parts.query) == {"session": ["python-2026"], "code": [code]}

    def test_the_recipients_language_picks_the_template(self, queue, inbox):
        send_job_run(job_id=queue(Recipient(1, "ada@example.org", language="de")).pk)
        [received] = inbox.received
        assert received.message["Subject"] == "Ihr Code für Python"
        assert received.message["Content-Language"] == "de"
        assert "hier ist Ihr Code" in received.body

    def test_a_language_without_a_template_falls_back_to_the_default(self, queue, inbox, settings):
        settings.TESSERA_MAIL_LANGUAGE = "de"
        send_job_run(job_id=queue(Recipient(1, "ada@example.org", language="fr")).pk)
        assert inbox.received[0].message["Content-Language"] == "de"

    def test_a_platforms_session_is_named_in_the_link_through_its_platform(
        self, make_offer, make_batch, inbox, public_url, django_capture_on_commit_callbacks
    ):
        platform = platform_create(name="Moodle A", slug="moodle-a", return_urls=["https://lms-a.example/"]).platform
        batch = make_batch(make_offer("enrollment", platform_session(platform, "s-1", "moodle-s-1")), count=1)
        with django_capture_on_commit_callbacks(execute=True):
            job = assignments_create(batch=batch, recipients=[Recipient(1, "ada@example.org")], actor="staff")
        send_job_run(job_id=job.pk)
        link = next(word for word in inbox.received[0].body.split() if word.startswith("https://"))
        query = parse_qs(urlsplit(link).query)
        assert (query["platform"], query["session"]) == (["moodle-a"], ["s-1"])

    def test_an_offer_for_any_session_leads_to_the_course_list(
        self, make_offer, make_batch, inbox, public_url, django_capture_on_commit_callbacks
    ):
        batch = make_batch(make_offer("reactivation", None), count=1)
        with django_capture_on_commit_callbacks(execute=True):
            job = assignments_create(batch=batch, recipients=[Recipient(1, "ada@example.org")], actor="staff")
        send_job_run(job_id=job.pk)
        assert "https://tessera.example/courses" in inbox.received[0].body
        assert inbox.received[0].message["Subject"] == "Your code for reactivation offer"

    def test_an_assessments_code_leads_to_the_assessments_page(
        self, assessment_offer, make_batch, inbox, public_url, django_capture_on_commit_callbacks
    ):
        batch = make_batch(assessment_offer, count=1)
        with django_capture_on_commit_callbacks(execute=True):
            job = assignments_create(batch=batch, recipients=[Recipient(1, "ada@example.org")], actor="staff")
        send_job_run(job_id=job.pk)
        [received] = inbox.received
        assert received.message["Subject"] == "Your code for Python certification exam"
        assert "https://tessera.example/assessments/python-exam" in received.body
        assert shown_code(Assignment.objects.get()) in received.body


class TestSendJobRun:
    def test_a_refused_recipient_fails_with_the_servers_answer_and_the_others_are_sent(self, queue, inbox):
        job = send_job_run(job_id=queue(*[Recipient(n, e) for n, e in enumerate(["a@x.org", REFUSED, "b@x.org"])]).pk)
        assert (job.status, job.sent, job.failed) == ("done", 2, 1)
        states = dict(Assignment.objects.values_list("email", "state"))
        assert states == {"a@x.org": "sent", REFUSED: "failed", "b@x.org": "sent"}
        refused = Assignment.objects.get(email=REFUSED)
        assert "550" in refused.last_error
        assert "No such mailbox" in refused.last_error
        assert [mail.to for mail in inbox.received] == [["a@x.org"], ["b@x.org"]]
        audit = AuditEvent.objects.get(action="mail_sent")
        assert audit.detail["failed"] == [refused.pk]

    def test_a_server_gone_away_queues_the_job_again_and_nobody_gets_two_mails(self, queue, inbox, settings):
        inbox.busy.add("b@x.org")
        job = queue(*[Recipient(n, e) for n, e in enumerate(["a@x.org", "b@x.org", "c@x.org"])])
        job = send_job_run(job_id=job.pk)
        assert (job.status, job.attempts, job.sent) == ("queued", 1, 1)
        assert "421" in job.error
        retry = DBTaskResult.objects.filter(args_kwargs__args=[job.pk]).order_by("-enqueued_at").first()
        assert retry.run_after > timezone.now() + timedelta(seconds=settings.TESSERA_MAIL_RETRY_SECONDS - 5)
        inbox.busy.clear()
        job = send_job_run(job_id=job.pk)
        assert (job.status, job.attempts, job.sent, job.failed, job.error) == ("done", 2, 3, 0, "")
        assert sorted(address for mail in inbox.received for address in mail.to) == ["a@x.org", "b@x.org", "c@x.org"]

    def test_after_its_last_attempt_the_job_fails_and_its_unsent_mails_with_it(self, queue, inbox, settings):
        settings.EMAIL_PORT = free_port()  # nothing listens there
        settings.TESSERA_MAIL_ATTEMPTS = 1
        job = send_job_run(job_id=queue(Recipient(1, "a@x.org"), Recipient(2, "b@x.org")).pk)
        assert (job.status, job.failed) == ("failed", 2)
        assert "could not be reached in 1 runs" in job.error
        assert set(Assignment.objects.values_list("state", flat=True)) == {"failed"}
        assert Assignment.objects.filter(last_error=job.error).count() == 2

    def test_a_job_runs_once_per_queueing(self, queue, inbox):
        job = queue(Recipient(1, "a@x.org"))
        send_job_run(job_id=job.pk)
        assert send_job_run(job_id=job.pk).attempts == 1
        assert len(inbox.received) == 1

    def test_a_withdrawn_assignment_left_in_a_queued_job_is_not_mailed(self, queue, inbox):
        job = queue(Recipient(1, "a@x.org"), Recipient(2, "b@x.org"))
        Assignment.objects.filter(email="a@x.org").update(state="withdrawn")
        assert send_job_run(job_id=job.pk).sent == 1
        assert [mail.to for mail in inbox.received] == [["b@x.org"]]

    def test_the_console_and_file_backends_need_no_server(self, queue, settings, tmp_path):
        settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
        settings.EMAIL_FILE_PATH = str(tmp_path)
        assert send_job_run(job_id=queue(Recipient(1, "a@x.org")).pk).sent == 1
        [written] = list(tmp_path.iterdir())
        assert "To: a@x.org" in written.read_text()

    def test_django_locmem_outbox_sees_the_message_too(self, queue):
        send_job_run(job_id=queue(Recipient(1, "a@x.org")).pk)
        assert [message.to for message in mail.outbox] == [["a@x.org"]]


class TestTemplates:
    def test_built_in_english_and_german_for_codes_and_reminders(self, db):
        assert {language for _, language in BUILT_IN} == {"en", "de"}
        assert wording("code", "de-AT".lower()).language == "de"

    def test_a_stored_template_is_used_and_the_change_audited(self, queue, inbox):
        template_save(
            kind="code", language="en", subject="Code {{ code }}", body="{{ name|default:'Hi' }}: {{ redeem_link }}",
            actor="user:1",
        )  # fmt: skip
        send_job_run(job_id=queue(Recipient(1, "a@x.org")).pk)
        received = inbox.received[0]
        assert received.message["Subject"] == f"Code {shown_code(Assignment.objects.get())}"
        assert received.body.startswith("Hi: https://tessera.example/redeem?session=python-2026&code=")
        assert AuditEvent.objects.get(action="template_changed").detail["language"] == "en"

    def test_a_template_that_does_not_parse_is_refused_and_nothing_stored(self, db):
        with pytest.raises(InvalidTemplate) as refused:
            template_save(kind="code", language="en", subject="x", body="{% if %}", actor="staff")
        assert refused.value.code == "invalid_template"
        assert not MessageTemplate.objects.exists()

    @pytest.mark.parametrize(("fields", "field"), [({"language": "e n"}, "language"), ({"kind": "x"}, "kind")])
    def test_a_bad_language_or_kind_is_refused(self, fields, field, db):
        with pytest.raises(InvalidInput) as refused:
            template_save(**{"kind": "code", "language": "en", "subject": "s", "body": "b", "actor": "a", **fields})
        assert refused.value.field == field

    def test_a_template_cannot_include_files(self, db):
        with pytest.raises(InvalidTemplate):
            template_save(kind="code", language="en", subject="s", body='{% include "/etc/passwd" %}', actor="a")


class TestStalledJobs:
    """A worker killed while sending leaves its job running: the task worker's chore queues it
    again once a lease has passed without a committed chunk, and fails it after its last run."""

    def stall(self, job: SendJob, *, attempts: int, settings) -> None:
        long_ago = timezone.now() - timedelta(seconds=settings.TESSERA_JOB_LEASE_SECONDS + 1)
        SendJob.objects.filter(pk=job.pk).update(status="running", attempts=attempts, updated_at=long_ago)

    def test_a_stalled_job_is_queued_again_once_and_sends_what_is_left(self, queue, inbox, settings):
        job = queue(Recipient(1, "a@x.org"), Recipient(2, "b@x.org"))
        Assignment.objects.filter(email="a@x.org").update(state="sent", job=None)  # mailed before the worker died
        self.stall(job, attempts=1, settings=settings)
        assert send_jobs_requeue_stalled() == (1, 0)
        assert send_jobs_requeue_stalled() == (0, 0)
        job = send_job_run(job_id=job.pk)
        assert (job.status, job.attempts, job.sent) == ("done", 2, 1)
        assert [mail.to for mail in inbox.received] == [["b@x.org"]]

    def test_a_job_that_stalled_on_its_last_run_fails_with_its_mails(self, queue, settings):
        job = queue(Recipient(1, "a@x.org"))
        self.stall(job, attempts=settings.TESSERA_MAIL_ATTEMPTS, settings=settings)
        assert send_jobs_requeue_stalled() == (0, 1)
        job.refresh_from_db()
        assert (job.status, job.failed) == ("failed", 1)
        assert Assignment.objects.get().state == "failed"

    def test_a_running_job_with_a_recent_sign_of_life_is_left_alone(self, queue):
        job = queue(Recipient(1, "a@x.org"))
        SendJob.objects.filter(pk=job.pk).update(status="running", attempts=1, updated_at=timezone.now())
        assert send_jobs_requeue_stalled() == (0, 0)
