"""Mailing codes to their recipients: the templates a mail is written from, and the mail jobs
the task worker runs (`tessera db_worker`).

A job mails every assignment that points at it (Assignment.job), a chunk at a time over one
reused connection to the mail server. After each chunk the outcome is committed in one
transaction: the assignments sent or refused, the job's counts, and one audit row naming both
(a row per chunk, not per mail: 10,000 mails would otherwise be 10,000 rows). A recipient the
server refuses (SMTPRecipientsRefused, or a 5xx answer to the message) fails that assignment
with the server's answer and the job goes on. A server that cannot be reached, or drops the
connection, stops the run: the mails of the chunk already accepted are committed first, and the
job is queued again (TESSERA_MAIL_RETRY_SECONDS times its run's number later) up to
TESSERA_MAIL_ATTEMPTS runs, each picking up the assignments still pointing at it, so none is
mailed twice. Only a worker killed between the server's acceptance and the chunk's commit can
send up to CHUNK mails of that chunk a second time.

Bounces that arrive later, as delivery status notifications in the sender's mailbox, are not
read: such an assignment stays "sent" (docs/sending-codes.md).
"""

import functools
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.template import Context, Engine, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import task

from tessera.core.errors import DomainError, InvalidInput
from tessera.core.validation import fits_text, one_of
from tessera.vouchers.audit import audit_record
from tessera.vouchers.errors import InvalidTemplate
from tessera.vouchers.models import Assignment, AuditEvent, Batch, MessageTemplate, SendJob
from tessera.vouchers.selectors.assignments import Wording, stored_template
from tessera.vouchers.selectors.codes import display_code

logger = logging.getLogger(__name__)

# Mails sent between two commits of their outcome.
CHUNK = 20
MAX_ERROR = 500
UNEXPECTED = "The job stopped on an unexpected error; the server log has the details."
GAVE_UP = "The mail server could not be reached in {attempts} runs: {error}"
STALLED = "The task worker died while sending, {attempts} times; the mails not sent are marked failed."

Status = SendJob.Status
State = Assignment.State
Kind = MessageTemplate.Kind

# Plain text mails: nothing is HTML-escaped (a redeem link keeps its "&"). Built-in tags and
# filters only, and no template loaders, so a template cannot include files.
ENGINE = Engine(autoescape=False, loaders=[])
VARIABLES = ("code", "redeem_link", "name", "title", "expires", "email")

_CODE_EN = """Hello{% if name %} {{ name }}{% endif %},

here is your code for {{ title }}:

    {{ code }}

Redeem it here (sign in or register first): {{ redeem_link }}
{% if expires %}
The code can be redeemed until {{ expires }}.
{% endif %}"""
_CODE_DE = """Hallo{% if name %} {{ name }}{% endif %},

hier ist Ihr Code für {{ title }}:

    {{ code }}

Lösen Sie ihn hier ein (nach der Anmeldung oder Registrierung): {{ redeem_link }}
{% if expires %}
Der Code kann bis {{ expires }} eingelöst werden.
{% endif %}"""
_REMINDER_EN = """Hello{% if name %} {{ name }}{% endif %},

a reminder: your code for {{ title }} has not been redeemed yet.

    {{ code }}

Redeem it here: {{ redeem_link }}
{% if expires %}
The code can be redeemed until {{ expires }}.
{% endif %}"""
_REMINDER_DE = """Hallo{% if name %} {{ name }}{% endif %},

zur Erinnerung: Ihr Code für {{ title }} ist noch nicht eingelöst.

    {{ code }}

Hier lösen Sie ihn ein: {{ redeem_link }}
{% if expires %}
Der Code kann bis {{ expires }} eingelöst werden.
{% endif %}"""

# The text a mail has while staff have stored none of their own for its kind and language.
BUILT_IN: dict[tuple[str, str], tuple[str, str]] = {
    (Kind.CODE, "en"): ("Your code for {{ title }}", _CODE_EN),
    (Kind.CODE, "de"): ("Ihr Code für {{ title }}", _CODE_DE),
    (Kind.REMINDER, "en"): ("Reminder: your code for {{ title }}", _REMINDER_EN),
    (Kind.REMINDER, "de"): ("Erinnerung: Ihr Code für {{ title }}", _REMINDER_DE),
}


def wording(kind: str, language: str) -> Wording:
    """The template for a mail of `kind` in `language`: the stored one, else the built-in one,
    for the language as given ("de-at"), then its primary language ("de"), then
    TESSERA_MAIL_LANGUAGE, then English."""
    primary = language.split("-", 1)[0]
    for candidate in dict.fromkeys([language, primary, settings.TESSERA_MAIL_LANGUAGE, "en"]):
        if not candidate:
            continue
        stored = stored_template(kind, candidate)
        if stored is not None:
            return Wording(subject=stored.subject, body=stored.body, language=candidate)
        if (kind, candidate) in BUILT_IN:
            subject, body = BUILT_IN[(kind, candidate)]
            return Wording(subject=subject, body=body, language=candidate)
    raise AssertionError("English is built in")  # pragma: no cover


def template_save(*, kind: str, language: str, subject: str, body: str, actor: str) -> MessageTemplate:
    """Stores the subject and body of the mails of `kind` in `language` (template_validate),
    replacing those stored before; audited."""
    language = template_validate(kind=kind, language=language, subject=subject, body=body)
    with transaction.atomic():
        stored, created = MessageTemplate.objects.update_or_create(
            kind=kind, language=language, defaults={"subject": subject, "body": body, "updated_by": actor[:150]}
        )
        audit_record(
            action=AuditEvent.Action.TEMPLATE_CHANGED, actor=actor, template=stored.pk, kind=kind,
            language=language, created=created,
        )  # fmt: skip
    return stored


def template_validate(*, kind: str, language: str, subject: str, body: str) -> str:
    """The language normalised, once the kind is one, the language a code such as "de", and the
    subject and body read as templates and render with sample values; InvalidTemplate or
    InvalidInput otherwise."""
    one_of(Kind, "kind", kind)
    language = language.strip().lower()
    if not language or not all(part.isalnum() and part.isascii() for part in language.split("-")):
        raise InvalidInput('A language is a code such as "en" or "de".', field="language")
    fits_text(MessageTemplate, "language", language)
    fits_text(MessageTemplate, "subject", subject)
    if not subject.strip() or not body.strip():
        raise InvalidInput("A template needs a subject and a body.", field="body" if subject.strip() else "subject")
    for name, text in (("subject", subject), ("body", body)):
        _render(text, SAMPLE, field=name)
    return language


SAMPLE = {
    "code": "ABCD-EFGH-JKMN-PQRS", "redeem_link": "https://tessera.example/redeem?session=x&code=ABCD",
    "name": "Ada", "title": "Python", "expires": "2026-12-31 23:59 UTC", "email": "ada@example.org",
}  # fmt: skip


def _render(text: str, values: dict[str, str], *, field: str = "body") -> str:
    try:
        return ENGINE.from_string(text).render(Context(values, autoescape=False))
    except TemplateSyntaxError as error:
        raise InvalidTemplate(f"The {field} is not a valid template: {error}", field=field) from None
    except Exception as error:  # e.g. {% include %}, which finds nothing to include
        raise InvalidTemplate(f"The {field} cannot be rendered: {type(error).__name__}: {error}", field=field) from None


def message_for(
    assignment: Assignment, *, kind: str, link: Callable[[str], str], words: Callable[[str, str], Wording] = wording
) -> EmailMessage:
    """The mail to the assignment's recipient, in their language (`words` finds the template)."""
    batch = assignment.batch
    chosen = words(kind, assignment.language)
    code = display_code(assignment.code_id, batch.prefix, imported=batch.imported)
    values = {
        "code": code, "redeem_link": link(code), "name": assignment.name, "title": mail_title(batch),
        "expires": f"{batch.expires_at:%Y-%m-%d %H:%M} UTC" if batch.expires_at else "", "email": assignment.email,
    }  # fmt: skip
    subject = " ".join(_render(chosen.subject, values, field="subject").split())  # one line, as a header must be
    message = EmailMessage(subject=subject, body=_render(chosen.body, values), to=[assignment.email])
    message.extra_headers["Content-Language"] = chosen.language
    return message


def mail_title(batch: Batch) -> str:
    offer = batch.offer
    if offer.assessment is not None:
        return offer.assessment.title
    return offer.session.course.title if offer.session is not None else offer.name


def redeem_link_maker(batch: Batch, *, base: str) -> Callable[[str], str]:
    """The redeem link of a code of the batch (as printed cards have: tessera.web.cards): an
    assessment's codes lead to its page, where the code is typed; an offer valid in any session
    has no link that could name the session, so its mails lead to the course list."""
    session, assessment = batch.offer.session, batch.offer.assessment
    if assessment is not None:
        page = f"{base}{reverse('web:assessment_detail', args=[assessment.slug])}"
        return lambda code: page
    if session is None:
        course_list = f"{base}{reverse('web:course_list')}"
        return lambda code: course_list
    make: Callable[..., Callable[[str], str]] = import_string(settings.TESSERA_REDEEM_LINKS)
    return make(session, base=base)


# --- the job --------------------------------------------------------------------------------------


class MailServerUnavailable(Exception):
    """The mail server could not be reached or dropped the connection: the run stops."""


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def send_job_run(*, job_id: int) -> SendJob:
    """Mails what the job still has to mail. A job runs once per queueing: a second delivery of
    the task finds it claimed and does nothing."""
    now = timezone.now()
    claimed = SendJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, started_at=now, updated_at=now
    )
    job = SendJob.objects.select_related("batch__offer__session__course", "batch__offer__assessment").get(pk=job_id)
    if not claimed:
        return job
    try:
        _send_pending(job)
    except MailServerUnavailable as error:
        _retry_or_give_up(job, str(error)[:MAX_ERROR])
    except DomainError as refusal:  # e.g. a stored template that no longer renders
        _give_up(job, refusal.message[:MAX_ERROR])
    except Exception:
        logger.exception("Mail job %s failed", job.pk)
        _give_up(job, UNEXPECTED)
    else:
        _end(job, Status.DONE)
    job.refresh_from_db()
    return job


def _send_pending(job: SendJob) -> None:
    kind = Kind.CODE if job.kind == SendJob.Kind.SEND else Kind.REMINDER
    link = redeem_link_maker(job.batch, base=job.link_base)
    words = functools.cache(wording)  # looked up once per language for the whole run
    connection = get_connection()
    try:
        _open(connection)
        while chunk := list(_pending(job)[:CHUNK]):
            outcome = Outcome()
            try:
                for assignment in chunk:
                    assignment.batch = job.batch  # loaded once, with its offer and session
                    message = message_for(assignment, kind=kind, link=link, words=words)
                    _send_one(connection, message, assignment.pk, outcome)
            finally:
                _record(job, outcome)  # what the server accepted before it went away is recorded too
    finally:
        connection.close()


def _open(connection: Any) -> None:
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as error:
        raise MailServerUnavailable(f"{type(error).__name__}: {error}") from None


def _send_one(connection: Any, message: EmailMessage, assignment_id: int, outcome: Outcome) -> None:
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as refused:
        answers = "; ".join(f"{code} {_text(reply)}" for code, reply in refused.recipients.values())
        outcome.failed.append((assignment_id, f"Refused by the mail server: {answers}"[:MAX_ERROR]))
    except smtplib.SMTPDataError as error:
        if error.smtp_code < 500:
            raise MailServerUnavailable(f"{error.smtp_code} {_text(error.smtp_error)}") from None
        outcome.failed.append(
            (assignment_id, f"Refused by the mail server: {error.smtp_code} {_text(error.smtp_error)}")
        )
    except (smtplib.SMTPException, OSError) as error:
        raise MailServerUnavailable(f"{type(error).__name__}: {error}") from None
    else:
        outcome.sent.append(assignment_id)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _pending(job: SendJob) -> Any:
    return Assignment.objects.filter(job=job).exclude(state=State.WITHDRAWN).select_related("code").order_by("pk")


def _record(job: SendJob, outcome: Outcome) -> None:
    if not outcome.sent and not outcome.failed:
        return
    now = timezone.now()
    with transaction.atomic():
        delivered = {"reminded_at": now} if job.kind == SendJob.Kind.REMIND else {"state": State.SENT, "sent_at": now}
        mine = Assignment.objects.filter(job=job)
        sent = mine.filter(pk__in=outcome.sent).update(job=None, attempts=F("attempts") + 1, last_error="", **delivered)
        for assignment_id, reason in outcome.failed:
            mine.filter(pk=assignment_id).update(
                state=State.FAILED, job=None, attempts=F("attempts") + 1, last_error=reason
            )
        SendJob.objects.filter(pk=job.pk).update(
            sent=F("sent") + sent, failed=F("failed") + len(outcome.failed), updated_at=now
        )
        audit_record(
            action=AuditEvent.Action.MAIL_SENT, actor="task", batch=job.batch, at=now, job=job.pk, kind=job.kind,
            sent=outcome.sent, failed=[assignment_id for assignment_id, _ in outcome.failed],
        )  # fmt: skip


def _retry_or_give_up(job: SendJob, error: str) -> None:
    if job.attempts >= settings.TESSERA_MAIL_ATTEMPTS:
        _give_up(job, GAVE_UP.format(attempts=job.attempts, error=error))
        return
    later = timezone.now() + timedelta(seconds=settings.TESSERA_MAIL_RETRY_SECONDS * job.attempts)
    logger.warning("Mail job %s: %s; run %s queued for %s", job.pk, error, job.attempts + 1, later)
    with transaction.atomic():
        if SendJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            status=Status.QUEUED, error=error, updated_at=timezone.now()
        ):
            send_mails_in_background.using(run_after=later).enqueue(job.pk)  # same transaction: queued once


def _give_up(job: SendJob, error: str) -> None:
    """The job fails; what it had still to mail is marked failed, to be sent again by staff."""
    now = timezone.now()
    with transaction.atomic():
        left = list(_pending(job).values_list("pk", flat=True))
        Assignment.objects.filter(pk__in=left).update(state=State.FAILED, job=None, last_error=error[:MAX_ERROR])
        SendJob.objects.filter(pk=job.pk).update(failed=F("failed") + len(left))
        if left:
            audit_record(
                action=AuditEvent.Action.MAIL_SENT, actor="task", batch=job.batch, at=now, job=job.pk,
                kind=job.kind, sent=[], failed=left,
            )  # fmt: skip
        _end(job, Status.FAILED, error=error)


def _end(job: SendJob, status: str, *, error: str = "") -> None:
    now = timezone.now()
    SendJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=status, error=error, finished_at=now, updated_at=now
    )


def send_jobs_requeue_stalled() -> tuple[int, int]:
    """Every running mail job without a sign of life (a committed chunk) for TESSERA_JOB_LEASE_SECONDS
    lost its worker: it is queued again, or fails once it has had TESSERA_MAIL_ATTEMPTS runs. Each
    is one conditional UPDATE, so of two workers doing this at once only one moves a job. Answers
    (queued again, failed). A chore of the task worker (tessera.vouchers.apps)."""
    cutoff = timezone.now() - timedelta(seconds=settings.TESSERA_JOB_LEASE_SECONDS)
    requeued = failed = 0
    stalled = SendJob.objects.filter(status=Status.RUNNING, updated_at__lt=cutoff)
    for job in stalled.select_related("batch"):
        if job.attempts >= settings.TESSERA_MAIL_ATTEMPTS:
            _give_up(job, STALLED.format(attempts=job.attempts))
            failed += 1
            continue
        with transaction.atomic():
            if stalled.filter(pk=job.pk, attempts=job.attempts).update(status=Status.QUEUED, updated_at=timezone.now()):
                send_mails_in_background.enqueue(job.pk)  # in the same transaction: queued exactly once
                requeued += 1
                logger.warning("Mail job %s had no sign of life for a lease; queued again", job.pk)
    return requeued, failed


@task()
def send_mails_in_background(job_id: int) -> str:
    """The task `tessera db_worker` runs for a queued mail job."""
    return send_job_run(job_id=job_id).status


def send_job_enqueue(job_id: int, *, run_after: datetime | None = None) -> None:
    """Queues the job's run; a job that cannot be queued fails at once, with its mails."""
    try:
        queued = send_mails_in_background.using(run_after=run_after) if run_after else send_mails_in_background
        queued.enqueue(job_id)
    except Exception:
        logger.exception("Mail job %s could not be queued", job_id)
        error = "The job could not be queued; nothing was sent."
        with transaction.atomic():
            Assignment.objects.filter(job_id=job_id).exclude(state=State.WITHDRAWN).update(
                state=State.FAILED, job=None, last_error=error
            )
            SendJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
                status=Status.FAILED, error=error, finished_at=timezone.now()
            )
