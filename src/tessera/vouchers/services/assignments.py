"""Codes sent to recipients (DOMAIN.md: an Assignment): assigning a batch's codes to a list of
addresses, sending a code again, reminding, withdrawing. The mails themselves are sent by the
task worker (services.mailing); these only decide what is to be sent and queue it.

All or nothing: a recipient list with any line to fix (an address that is none, one given twice
in the list or holding a code of the batch already, a name or language too long) is refused
whole, every such line named with its number, and nothing is assigned. A repeated address is an
error, not skipped: a list holding one person twice is most likely a mistake worth seeing, and
skipping it silently would hide it. Nor is a code assigned unless every recipient gets one: a
batch with fewer assignable codes than recipients refuses them all (NotEnoughCodes).
"""

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from tessera.core.errors import InvalidInput
from tessera.vouchers import config
from tessera.vouchers.audit import audit_record
from tessera.vouchers.errors import (
    AlreadyWithdrawn,
    AssignmentNotResendable,
    NotEnoughCodes,
    RecipientProblem,
    RecipientsRefused,
)
from tessera.vouchers.models import Assignment, AuditEvent, Batch, SendJob
from tessera.vouchers.selectors.assignments import assignable_codes, due_for_reminder, live_assignments, resendable
from tessera.vouchers.services.batches import code_revoke
from tessera.vouchers.services.mailing import send_job_enqueue

# Recipients one list may hold: 10,000 mails are a few minutes of a mail server's time.
MAX_RECIPIENTS = 10_000
HEADER = "email"
COLUMNS = ("email", "name", "language")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
MAX_REMIND_DAYS = 365
# Assignment's column widths.
MAX_EMAIL, MAX_NAME, MAX_LANGUAGE = 254, 200, 16

State = Assignment.State


@dataclass(frozen=True)
class Recipient:
    """One recipient as given: the line it was on, the address, and optionally a name and a
    language ("de"). Checked by assignments_create, not here."""

    line: int
    email: str
    name: str = ""
    language: str = ""


def recipients_from_text(text_lines: Iterable[str], *, source: str = "the list") -> list[Recipient]:
    """The recipients of a CSV file (`email[,name[,language]]`, with a header line starting with
    "email" or none) or of a pasted list, one address a line. Blank lines are skipped. A line
    with more than three cells, a line that is not CSV, or more than MAX_RECIPIENTS lines are
    refused with their line numbers."""
    reader = csv.reader(text_lines)
    recipients: list[Recipient] = []
    problems: list[RecipientProblem] = []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells) or (not recipients and not problems and cells[0].lower() == HEADER):
                continue
            if len(cells) > len(COLUMNS):
                problems.append(
                    RecipientProblem(reader.line_num, cells[0], "more than three cells (email, name, language)")
                )
                continue
            recipients.append(Recipient(reader.line_num, *cells))
            if len(recipients) > MAX_RECIPIENTS:
                raise InvalidInput(f"One list holds up to {MAX_RECIPIENTS:,} recipients.", field="recipients")
    except csv.Error as error:
        raise InvalidInput(f"Line {reader.line_num} of {source} is not CSV: {error}.", field="recipients") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{source} is not UTF-8 text.", field="recipients") from None
    if problems:
        raise RecipientsRefused(problems, source=source)
    return recipients


def assignments_create(
    *, batch: Batch, recipients: Sequence[Recipient], actor: str, source: str = "the list", link_base: str = ""
) -> SendJob:
    """Assigns one code of the batch to each recipient and queues their mails, all or nothing
    (see the module's docstring); answers the mail job."""
    config.require_vouchers()
    base = _link_base(link_base)
    if not recipients:
        raise InvalidInput(f"{source} holds no recipients.", field="recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidInput(f"One list holds up to {MAX_RECIPIENTS:,} recipients.", field="recipients")
    problems = _problems(recipients)
    with transaction.atomic():
        # Locked, so two lists assigned to one batch at once take turns and never pick one code twice.
        locked = Batch.objects.select_for_update().select_related("offer").get(pk=batch.pk)
        problems += _already_holding(locked, recipients)
        if problems:
            raise RecipientsRefused(problems, source=source)
        now = timezone.now()
        codes = list(assignable_codes(locked, now=now).values_list("pk", flat=True)[: len(recipients)])
        if len(codes) < len(recipients):
            raise NotEnoughCodes(
                f"Batch {locked.pk} has {len(codes):,} codes left to assign, for {len(recipients):,} recipients; "
                "none was assigned."
            )
        job = SendJob.objects.create(batch=locked, total=len(recipients), link_base=base, created_by=actor[:150])
        rows = Assignment.objects.bulk_create(
            Assignment(
                code_id=code,
                batch=locked,
                email=recipient.email.strip(),
                name=recipient.name.strip(),
                language=recipient.language.strip().lower(),
                assigned_by=actor[:150],
                assigned_at=now,
                job=job,
            )
            for code, recipient in zip(codes, recipients, strict=True)
        )
        audit_record(
            action=AuditEvent.Action.ASSIGNED, actor=actor, batch=locked, at=now, job=job.pk, count=len(rows),
            assignments=[row.pk for row in rows],
        )  # fmt: skip
        transaction.on_commit(lambda: send_job_enqueue(job.pk))
    return job


def _link_base(given: str) -> str:
    """TESSERA_PUBLIC_URL, or else `given` (the address of the request that asks)."""
    base = (settings.TESSERA_PUBLIC_URL or given).rstrip("/")
    if not base:
        raise InvalidInput("Set TESSERA_PUBLIC_URL, the address the mails' redeem links start with.", field="link_base")
    return base


def _problems(recipients: Sequence[Recipient]) -> list[RecipientProblem]:
    problems: list[RecipientProblem] = []
    first_line: dict[str, int] = {}
    for recipient in recipients:
        email = recipient.email.strip()
        problem = _problem(recipient, email)
        if problem is None and (seen := first_line.setdefault(email.lower(), recipient.line)) != recipient.line:
            problem = f"given twice: first on line {seen}"
        if problem is not None:
            problems.append(RecipientProblem(recipient.line, email, problem))
    return problems


def _problem(recipient: Recipient, email: str) -> str | None:
    if not email:
        return "no address"
    try:
        validate_email(email)
    except ValidationError:
        return "not an email address"
    if len(email) > MAX_EMAIL:
        return f"an address is at most {MAX_EMAIL} characters"
    if len(recipient.name.strip()) > MAX_NAME:
        return f"a name is at most {MAX_NAME} characters"
    if "\x00" in recipient.name:  # no PostgreSQL text column takes it
        return "a name holds a NUL character"
    language = recipient.language.strip().lower()
    if language and (len(language) > MAX_LANGUAGE or not LANGUAGE.fullmatch(language)):
        return f'{recipient.language!r} is no language code such as "en" or "de"'
    return None


def _already_holding(batch: Batch, recipients: Sequence[Recipient]) -> list[RecipientProblem]:
    """Recipients who hold a live code of this batch already (a list sent twice)."""
    holding = set(live_assignments(batch).annotate(lower=Lower("email")).values_list("lower", flat=True))
    return [
        RecipientProblem(recipient.line, recipient.email.strip(), "holds a code of this batch already")
        for recipient in recipients
        if recipient.email.strip().lower() in holding
    ]


# --- sending again, reminding, withdrawing --------------------------------------------------------


def assignment_resend(*, assignment: Assignment, actor: str, link_base: str = "") -> SendJob:
    """Mails the assignment's code once more (to the same address): a sent or failed assignment
    whose code still works; AssignmentNotResendable otherwise."""
    config.require_vouchers()
    job = _requeue(
        batch=assignment.batch, rows=Assignment.objects.filter(pk=assignment.pk), kind=SendJob.Kind.SEND,
        actor=actor, base=_link_base(link_base),
    )  # fmt: skip
    if job is None:
        raise AssignmentNotResendable()
    return job


def assignments_resend_failed(*, batch: Batch, actor: str, link_base: str = "") -> SendJob | None:
    """Mails every failed assignment of the batch whose code still works once more; None if
    there is none."""
    config.require_vouchers()
    rows = batch.assignments.filter(state=State.FAILED)
    return _requeue(batch=batch, rows=rows, kind=SendJob.Kind.SEND, actor=actor, base=_link_base(link_base))


def assignments_remind(*, batch: Batch, days: int, actor: str, link_base: str = "") -> SendJob | None:
    """Reminds everyone of the batch whose code was mailed at least `days` days ago and is still
    unredeemed, unless reminded within those days; None if nobody is due."""
    config.require_vouchers()
    if not 1 <= days <= MAX_REMIND_DAYS:
        raise InvalidInput(f"Remind after 1 to {MAX_REMIND_DAYS} days.", field="days")
    now = timezone.now()
    rows = due_for_reminder(batch, cutoff=now - timedelta(days=days), now=now)
    return _requeue(
        batch=batch, rows=rows, kind=SendJob.Kind.REMIND, actor=actor, base=_link_base(link_base), days=days
    )


def _requeue(
    *, batch: Batch, rows: QuerySet[Assignment], kind: str, actor: str, base: str, days: int | None = None
) -> SendJob | None:
    """A job of `kind` for those of `rows` a mail may go to (selectors.resendable), or None."""
    with transaction.atomic():
        now = timezone.now()
        ids = list(resendable(rows, now=now).select_for_update(of=("self",)).values_list("pk", flat=True))
        if not ids:
            return None
        job = SendJob.objects.create(batch=batch, kind=kind, total=len(ids), link_base=base, created_by=actor[:150])
        fields = {"state": State.QUEUED} if kind == SendJob.Kind.SEND else {}
        Assignment.objects.filter(pk__in=ids).update(job=job, **fields)
        action = AuditEvent.Action.RESENT if kind == SendJob.Kind.SEND else AuditEvent.Action.REMINDED
        audit_record(action=action, actor=actor, batch=batch, at=now, job=job.pk, assignments=ids, days=days)
        transaction.on_commit(lambda: send_job_enqueue(job.pk))
    return job


def assignment_withdraw(
    *, assignment: Assignment, actor: str, replacement: Recipient | None = None, link_base: str = ""
) -> SendJob | None:
    """Withdraws the assignment and revokes its code, so the mailed code stops working; with a
    `replacement`, a fresh code of the batch goes to that address (the job mailing it is
    answered), all in one transaction."""
    config.require_vouchers()
    with transaction.atomic():
        now = timezone.now()
        if (
            not Assignment.objects.filter(pk=assignment.pk)
            .exclude(state=State.WITHDRAWN)
            .update(state=State.WITHDRAWN, withdrawn_at=now, job=None)
        ):
            raise AlreadyWithdrawn()
        audit_record(
            action=AuditEvent.Action.WITHDRAWN, actor=actor, code=assignment.code_id, batch=assignment.batch,
            at=now, assignment=assignment.pk,
        )  # fmt: skip
        code_revoke(code=assignment.code, actor=actor)
        job = None
        if replacement is not None:
            job = assignments_create(
                batch=assignment.batch, recipients=[replacement], actor=actor, source="the replacement",
                link_base=link_base,
            )  # fmt: skip
    assignment.refresh_from_db()
    return job
