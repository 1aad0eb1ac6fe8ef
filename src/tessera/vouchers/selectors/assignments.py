"""Reads of codes sent to recipients: a batch's assignments, the codes still free to assign,
mail jobs, and the template a mail is written from."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Assignment, Batch, Code, MessageTemplate, SendJob

State = Assignment.State


def assignable_codes(batch: Batch, *, now: datetime) -> QuerySet[Code]:
    """The batch's codes that may go to a new recipient, in code order: live (neither they nor
    their batch revoked, the batch not expired), never used, and with no live assignment."""
    if batch.revoked_at is not None or batch.is_expired(now):
        return Code.objects.none()
    assigned = Assignment.objects.filter(code=OuterRef("pk")).exclude(state=State.WITHDRAWN)
    return Code.objects.filter(batch=batch, revoked_at__isnull=True, uses=0).filter(~Exists(assigned)).order_by("code")


def live_assignments(batch: Batch) -> QuerySet[Assignment]:
    return Assignment.objects.filter(batch=batch).exclude(state=State.WITHDRAWN)


def batch_assignments(batch: Batch, *, state: str = "") -> QuerySet[Assignment]:
    """The batch's assignments, newest first, with their codes (redeemed: code.uses > 0)."""
    rows = Assignment.objects.filter(batch=batch).select_related("code", "batch").order_by("-pk")
    return rows.filter(state=state) if state else rows


def code_assignments(code: Code) -> QuerySet[Assignment]:
    """To whom the code was sent, newest first (withdrawn ones too)."""
    return Assignment.objects.filter(code=code).order_by("-pk")


def assignment_numbered(pk: int, *, batch: Batch | None = None) -> Assignment:
    """One assignment; with `batch`, only one of that batch (a platform sees its own only)."""
    rows = Assignment.objects.select_related("code", "batch__offer")
    found = (rows.filter(batch=batch) if batch is not None else rows).filter(pk=pk).first()
    if found is None:
        raise DoesNotExist(f"There is no assignment {pk}.")
    return found


def send_job_numbered(pk: int) -> SendJob:
    job = SendJob.objects.select_related("batch__offer").filter(pk=pk).first()
    if job is None:
        raise DoesNotExist(f"There is no mail job {pk}.")
    return job


def send_jobs_of(batch: Batch) -> QuerySet[SendJob]:
    return SendJob.objects.filter(batch=batch).order_by("-pk")


def resendable(assignments: QuerySet[Assignment], *, now: datetime) -> QuerySet[Assignment]:
    """Of `assignments`, those a mail may go to again: sent or failed, none on its way, and
    their code still working (not revoked, not used up, its batch neither revoked nor expired)."""
    return assignments.filter(
        Q(batch__expires_at__isnull=True) | Q(batch__expires_at__gt=now),
        state__in=[State.SENT, State.FAILED], job__isnull=True, code__revoked_at__isnull=True,
        batch__revoked_at__isnull=True, code__uses=0,
    )  # fmt: skip


def due_for_reminder(batch: Batch, *, cutoff: datetime, now: datetime) -> QuerySet[Assignment]:
    """The batch's assignments whose code was mailed before `cutoff` and is still unredeemed and
    working, not reminded since `cutoff`, and with no mail on its way."""
    return resendable(batch.assignments.all(), now=now).filter(
        Q(reminded_at__isnull=True) | Q(reminded_at__lte=cutoff), state=State.SENT, sent_at__lte=cutoff
    )


@dataclass(frozen=True)
class Wording:
    """A mail's subject and body in Django's template language, and the language they are in."""

    subject: str
    body: str
    language: str


def stored_templates() -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.order_by("kind", "language")


def stored_template(kind: str, language: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(kind=kind, language=language).first()
