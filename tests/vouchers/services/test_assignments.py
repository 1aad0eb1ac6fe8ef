"""Tests for tessera.vouchers.services.assignments: recipient lists, assigning codes all or
nothing, sending again, reminding and withdrawing (the mails go to a real SMTP server)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tessera.core.errors import InvalidInput
from tessera.vouchers.errors import (
    AlreadyWithdrawn,
    AssignmentNotResendable,
    CodeRevoked,
    NotEnoughCodes,
    RecipientsRefused,
)
from tessera.vouchers.models import Assignment, AuditEvent, Code, SendJob
from tessera.vouchers.services import (
    Recipient,
    assignment_resend,
    assignment_withdraw,
    assignments_create,
    assignments_remind,
    assignments_resend_failed,
    batch_revoke,
    recipients_from_text,
    send_job_run,
    voucher_redeem,
)
from tests.mailserver import REFUSED


def people(*emails: str) -> list[Recipient]:
    return [Recipient(line, email) for line, email in enumerate(emails, start=1)]


@pytest.fixture
def batch(enrollment_offer, make_batch):
    return make_batch(enrollment_offer, count=5)


@pytest.fixture
def assign(batch, public_url, django_capture_on_commit_callbacks):
    """Assigns codes of `batch` (or another) and runs the mail job as the task worker would."""

    def run(recipients, *, of=None, actor="staff") -> SendJob:
        with django_capture_on_commit_callbacks(execute=True):
            job = assignments_create(batch=of or batch, recipients=recipients, actor=actor)
        return send_job_run(job_id=job.pk)

    return run


def run_job(job: SendJob | None) -> SendJob:
    assert job is not None
    return send_job_run(job_id=job.pk)


class TestRecipientsFromText:
    def test_a_csv_with_a_header_gives_address_name_and_language_with_their_lines(self):
        text = "email,name,language\nada@example.org,Ada Lovelace,en\n\nbob@example.org,,de\n"
        assert recipients_from_text(text.splitlines()) == [
            Recipient(2, "ada@example.org", "Ada Lovelace", "en"),
            Recipient(4, "bob@example.org", "", "de"),
        ]

    def test_a_pasted_list_is_one_address_a_line(self):
        recipients = recipients_from_text(["ada@example.org", "  bob@example.org  "])
        assert [(r.line, r.email, r.name) for r in recipients] == [
            (1, "ada@example.org", ""),
            (2, "bob@example.org", ""),
        ]

    def test_a_line_with_too_many_cells_is_refused_with_its_number(self):
        with pytest.raises(RecipientsRefused) as refused:
            recipients_from_text(["ada@example.org", "bob@example.org,Bob,de,extra"], source="list.csv")
        assert [(p.line, p.email) for p in refused.value.problems] == [(2, "bob@example.org")]
        assert "list.csv" in refused.value.message

    def test_more_than_the_most_recipients_is_refused(self, monkeypatch):
        from tessera.vouchers.services import assignments

        monkeypatch.setattr(assignments, "MAX_RECIPIENTS", 2)
        with pytest.raises(InvalidInput):
            recipients_from_text(["a@example.org", "b@example.org", "c@example.org"])


class TestAssignmentsCreate:
    def test_each_recipient_gets_a_code_of_the_batch_and_its_mail(self, batch, assign, inbox):
        job = assign([Recipient(1, "ada@example.org", "Ada", "de"), Recipient(2, "bob@example.org")])
        assert (job.status, job.total, job.sent, job.failed) == ("done", 2, 2, 0)
        rows = list(Assignment.objects.order_by("pk"))
        assert [(row.email, row.state, row.batch_id) for row in rows] == [
            ("ada@example.org", "sent", batch.pk), ("bob@example.org", "sent", batch.pk),
        ]  # fmt: skip
        assert all(row.sent_at is not None and row.attempts == 1 for row in rows)
        assert len({row.code_id for row in rows}) == 2
        assert [mail.to for mail in inbox.received] == [["ada@example.org"], ["bob@example.org"]]

    def test_it_is_audited_with_the_assignments_and_the_mails(self, batch, assign, inbox):
        assign(people("ada@example.org", "bob@example.org"), actor="user:7")
        ids = list(Assignment.objects.order_by("pk").values_list("pk", flat=True))
        assigned = AuditEvent.objects.get(action="assigned")
        assert (assigned.actor, assigned.batch_id, assigned.detail["assignments"]) == ("user:7", batch.pk, ids)
        sent = AuditEvent.objects.get(action="mail_sent")
        assert (sent.detail["sent"], sent.detail["failed"]) == (ids, [])

    def test_a_bad_address_is_reported_with_its_line_and_nothing_is_assigned(self, batch, public_url):
        recipients = [Recipient(1, "ada@example.org"), Recipient(2, "not an address"), Recipient(3, "")]
        with pytest.raises(RecipientsRefused) as refused:
            assignments_create(batch=batch, recipients=recipients, actor="staff")
        assert [(p.line, p.problem) for p in refused.value.problems] == [
            (2, "not an email address"), (3, "no address"),
        ]  # fmt: skip
        assert refused.value.code == "recipients_refused"
        assert not Assignment.objects.exists()
        assert not SendJob.objects.exists()

    def test_an_address_given_twice_in_any_case_is_an_error_naming_both_lines(self, batch, public_url):
        with pytest.raises(RecipientsRefused) as refused:
            assignments_create(
                batch=batch, recipients=people("ada@example.org", "b@example.org", "ADA@example.org"), actor="s"
            )
        assert [(p.line, p.problem) for p in refused.value.problems] == [(3, "given twice: first on line 1")]
        assert not Assignment.objects.exists()

    def test_an_address_holding_a_code_of_the_batch_already_is_refused(self, batch, assign, inbox):
        assign(people("ada@example.org"))
        with pytest.raises(RecipientsRefused) as refused:
            assignments_create(batch=batch, recipients=people("bob@example.org", "Ada@Example.org"), actor="s")
        assert [p.line for p in refused.value.problems] == [2]
        assert Assignment.objects.count() == 1

    @pytest.mark.parametrize(
        ("recipient", "problem"),
        [
            (Recipient(1, "ada@example.org", language="german"), "'german' is no language code"),
            (Recipient(1, "ada@example.org", name="x" * 201), "a name is at most 200 characters"),
            (Recipient(1, "ada@example.org", name="A\x00da"), "a name holds a NUL character"),
        ],
    )
    def test_a_bad_name_or_language_is_reported(self, batch, public_url, recipient, problem):
        with pytest.raises(RecipientsRefused) as refused:
            assignments_create(batch=batch, recipients=[recipient], actor="staff")
        assert refused.value.problems[0].problem.startswith(problem)

    def test_a_batch_with_fewer_assignable_codes_than_recipients_assigns_none(
        self, batch, assign, inbox, learner, running_session
    ):
        codes = list(batch.codes.order_by("code"))
        Code.objects.filter(pk=codes[0].pk).update(revoked_at=timezone.now())
        voucher_redeem(code=codes[1].code, user=learner, session=running_session)
        assign(people("ada@example.org"))  # a third code taken
        with pytest.raises(NotEnoughCodes) as refused:
            assignments_create(
                batch=batch, recipients=people("b@example.org", "c@example.org", "d@example.org"), actor="s"
            )
        assert "2 codes left to assign, for 3 recipients" in refused.value.message
        assert Assignment.objects.count() == 1
        job = assign(people("b@example.org", "c@example.org"))
        assert job.sent == 2

    def test_a_revoked_batch_has_no_codes_to_assign(self, batch, public_url):
        batch_revoke(batch=batch, actor="staff")
        with pytest.raises(NotEnoughCodes):
            assignments_create(batch=batch, recipients=people("ada@example.org"), actor="staff")

    def test_without_a_public_address_for_the_links_nothing_is_assigned(self, batch, settings):
        settings.TESSERA_PUBLIC_URL = ""
        with pytest.raises(InvalidInput) as refused:
            assignments_create(batch=batch, recipients=people("ada@example.org"), actor="staff")
        assert refused.value.field == "link_base"
        assert not Assignment.objects.exists()

    def test_the_database_holds_one_live_assignment_per_code(self, batch, assign, inbox):
        assign(people("ada@example.org"))
        first = Assignment.objects.get()
        with pytest.raises(IntegrityError), transaction.atomic():
            Assignment.objects.create(
                code=first.code, batch=batch, email="x@example.org", assigned_at=timezone.now(), state="queued"
            )


class TestResend:
    def test_a_sent_assignment_is_mailed_again_and_audited(self, assign, inbox):
        assign(people("ada@example.org"))
        assignment = Assignment.objects.get()
        job = run_job(assignment_resend(assignment=assignment, actor="staff"))
        assert (job.kind, job.sent) == ("send", 1)
        assert len(inbox.to("ada@example.org")) == 2
        assignment.refresh_from_db()
        assert (assignment.state, assignment.attempts) == ("sent", 2)
        assert AuditEvent.objects.get(action="resent").detail["assignments"] == [assignment.pk]

    def test_a_withdrawn_assignment_is_not_sent_again(self, assign, inbox):
        assign(people("ada@example.org"))
        assignment = Assignment.objects.get()
        assignment_withdraw(assignment=assignment, actor="staff")
        with pytest.raises(AssignmentNotResendable):
            assignment_resend(assignment=assignment, actor="staff")

    def test_the_failed_ones_of_a_batch_are_sent_again_together(self, batch, assign, inbox):
        assign(people("ada@example.org", REFUSED, "bob@example.org"))
        inbox.refuse.clear()  # the mailbox exists now
        job = run_job(assignments_resend_failed(batch=batch, actor="staff"))
        assert (job.total, job.sent) == (1, 1)
        assert Assignment.objects.get(email=REFUSED).state == "sent"
        assert assignments_resend_failed(batch=batch, actor="staff") is None


class TestRemind:
    def test_the_unredeemed_are_reminded_once_within_the_days(self, batch, assign, inbox, learner, running_session):
        assign(people("ada@example.org", "bob@example.org"))
        ada, bob = Assignment.objects.order_by("pk")
        Assignment.objects.update(sent_at=timezone.now() - timedelta(days=8))
        voucher_redeem(code=bob.code_id, user=learner, session=running_session)
        job = run_job(assignments_remind(batch=batch, days=7, actor="staff"))
        assert (job.kind, job.total, job.sent) == ("remind", 1, 1)
        reminder = inbox.to("ada@example.org")[-1]
        assert reminder.message["Subject"].startswith("Reminder")
        ada.refresh_from_db()
        assert ada.reminded_at is not None
        assert ada.state == "sent"
        assert assignments_remind(batch=batch, days=7, actor="staff") is None  # reminded within 7 days
        assert AuditEvent.objects.get(action="reminded").detail == {"job": job.pk, "assignments": [ada.pk], "days": 7}

    def test_codes_mailed_more_recently_than_the_days_are_not_reminded(self, batch, assign, inbox):
        assign(people("ada@example.org"))
        assert assignments_remind(batch=batch, days=7, actor="staff") is None

    @pytest.mark.parametrize("days", [0, 366])
    def test_the_days_run_from_one_to_a_year(self, batch, public_url, days):
        with pytest.raises(InvalidInput):
            assignments_remind(batch=batch, days=days, actor="staff")


class TestWithdraw:
    def test_the_mailed_code_stops_working_and_it_is_audited(self, batch, assign, inbox, learner, running_session):
        assign(people("ada@example.org"))
        assignment = Assignment.objects.get()
        assert assignment_withdraw(assignment=assignment, actor="staff") is None
        assert (assignment.state, assignment.withdrawn_at is not None) == ("withdrawn", True)
        with pytest.raises(CodeRevoked):
            voucher_redeem(code=assignment.code_id, user=learner, session=running_session)
        assert AuditEvent.objects.filter(action__in=["withdrawn", "revoked"], code=assignment.code_id).count() == 2
        with pytest.raises(AlreadyWithdrawn):
            assignment_withdraw(assignment=assignment, actor="staff")

    def test_a_fresh_code_may_go_to_another_address(self, batch, assign, inbox):
        assign(people("ada@example.org"))
        old = Assignment.objects.get()
        job = run_job(assignment_withdraw(assignment=old, actor="staff", replacement=Recipient(1, "bob@example.org")))
        new = Assignment.objects.get(email="bob@example.org")
        assert (job.sent, new.state) == (1, "sent")
        assert new.code_id != old.code_id
        assert inbox.to("bob@example.org")[0].body.count(new.code_id[:4]) >= 1

    def test_a_bad_replacement_withdraws_nothing(self, assign, inbox):
        assign(people("ada@example.org"))
        old = Assignment.objects.get()
        with pytest.raises(RecipientsRefused):
            assignment_withdraw(assignment=old, actor="staff", replacement=Recipient(1, "nope"))
        old.refresh_from_db()
        assert old.state == "sent"
        assert old.code.revoked_at is None
