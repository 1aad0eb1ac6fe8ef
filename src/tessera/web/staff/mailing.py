"""Codes sent to their recipients by email: a batch's mail page ("Send codes" from a pasted list or
a CSV file, to whom its codes went and in what state, sending again, reminding, withdrawing), a
mail job's progress (htmx refreshes it every second until it is done or failed), and the mails'
templates. Each action calls one service of tessera.vouchers.services.assignments or .mailing.
"""

import re
from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.audit import actor_of
from tessera.vouchers.errors import RecipientsRefused
from tessera.vouchers.models import Assignment, Batch, MessageTemplate, SendJob
from tessera.vouchers.selectors.assignments import (
    assignment_numbered,
    batch_assignments,
    send_job_numbered,
    send_jobs_of,
    stored_templates,
)
from tessera.vouchers.selectors.batches import batch_numbered
from tessera.vouchers.services import (
    assignment_resend,
    assignment_withdraw,
    assignments_create,
    assignments_remind,
    assignments_resend_failed,
    template_save,
)
from tessera.vouchers.services.mailing import BUILT_IN, VARIABLES, wording
from tessera.web.cards import public_base
from tessera.web.errors import page_refusal
from tessera.web.responses import see_other
from tessera.web.staff.access import staff_only
from tessera.web.staff.common import found_or_404
from tessera.web.staff.forms import RemindForm, ReplacementForm, SendForm, TemplateForm, refusal_shown

LANGUAGE = re.compile(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8})?")
SHOWN = 500  # assignments listed on the page, newest first; the staff API pages through them all


@staff_only
@require_safe
def batch_mail(request: HttpRequest, pk: int) -> HttpResponse:
    return _mail_page(request, found_or_404(batch_numbered, pk), SendForm())


@staff_only
@require_POST
def codes_send(request: HttpRequest, pk: int) -> HttpResponse:
    batch = found_or_404(batch_numbered, pk)
    form = SendForm(request.POST, request.FILES)
    if not form.is_valid():
        return _mail_page(request, batch, form, status=422)
    try:
        recipients, source = form.recipients()
        job = assignments_create(
            batch=batch, recipients=recipients, actor=actor_of(request.user), source=source,
            link_base=public_base(request),
        )  # fmt: skip
    except DomainError as refusal:
        refusal_shown(form, refusal)
        refused = refusal if isinstance(refusal, RecipientsRefused) else None
        return page_refusal(refusal, partial(_mail_page, request, batch, form, refused=refused), on_form=True)
    messages.success(request, f"{job.total:,} codes assigned; their mails are on their way.")
    return see_other(reverse("staff:mail_job", args=[job.pk]))


def _mail_page(
    request: HttpRequest, batch: Batch, form: SendForm, *, refused: RecipientsRefused | None = None,
    status: int = 200,
) -> HttpResponse:  # fmt: skip
    state = request.GET.get("state", "")
    state = state if state in Assignment.State.values else ""
    context = {
        "batch": batch, "form": form, "refused": refused, "remind_form": RemindForm(), "state": state,
        "states": Assignment.State.choices, "assignments": batch_assignments(batch, state=state)[:SHOWN],
        "shown": SHOWN, "jobs": send_jobs_of(batch)[:10], "section": "offers",
    }  # fmt: skip
    return render(request, "web/staff/batch_mail.html", context, status=status)


@staff_only
@require_POST
def failed_resend(request: HttpRequest, pk: int) -> HttpResponse:
    batch = found_or_404(batch_numbered, pk)
    job = _act(request, lambda: assignments_resend_failed(batch=batch, actor=actor_of(request.user),
                                                          link_base=public_base(request)))  # fmt: skip
    return _after(request, batch, job, none="No failed code can be sent again.")


@staff_only
@require_POST
def remind(request: HttpRequest, pk: int) -> HttpResponse:
    batch = found_or_404(batch_numbered, pk)
    form = RemindForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Remind after 1 to 365 days.")
        return see_other(reverse("staff:batch_mail", args=[batch.pk]))
    days = form.cleaned_data["days"]
    job = _act(request, lambda: assignments_remind(batch=batch, days=days, actor=actor_of(request.user),
                                                   link_base=public_base(request)))  # fmt: skip
    return _after(request, batch, job, none=f"Nobody is due for a reminder after {days} days.")


@staff_only
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = found_or_404(assignment_numbered, pk)
    job = _act(request, lambda: assignment_resend(assignment=assignment, actor=actor_of(request.user),
                                                  link_base=public_base(request)))  # fmt: skip
    return _after(request, assignment.batch, job, none=None)


@staff_only
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = found_or_404(assignment_numbered, pk)
    form = ReplacementForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Nothing was withdrawn: " + " ".join(str(e) for errs in form.errors.values() for e in errs)
        )
        return see_other(reverse("staff:batch_mail", args=[assignment.batch_id]))
    try:
        job = assignment_withdraw(
            assignment=assignment, actor=actor_of(request.user), replacement=form.replacement(),
            link_base=public_base(request),
        )  # fmt: skip
    except DomainError as refusal:
        messages.error(request, f"Nothing was withdrawn: {_problems_of(refusal)}")
        return see_other(reverse("staff:batch_mail", args=[assignment.batch_id]))
    messages.success(request, f"Withdrawn: code {assignment.code_id} is revoked.")
    return _after(request, assignment.batch, job, none=None)


def _act(request: HttpRequest, action: Callable[[], SendJob | None]) -> SendJob | DomainError | None:
    try:
        return action()
    except DomainError as refusal:
        return refusal


def _after(request: HttpRequest, batch: Batch, job: SendJob | DomainError | None, *, none: str | None) -> HttpResponse:
    if isinstance(job, DomainError):
        messages.error(request, job.message)
    elif job is not None:
        messages.success(request, f"{job.total:,} mails queued.")
        return see_other(reverse("staff:mail_job", args=[job.pk]))
    elif none:
        messages.info(request, none)
    return see_other(reverse("staff:batch_mail", args=[batch.pk]))


def _problems_of(refusal: DomainError) -> str:
    if isinstance(refusal, RecipientsRefused):
        return "; ".join(str(problem) for problem in refusal.problems)
    return refusal.message


@staff_only
@require_safe
def mail_job(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/staff/mail_job.html", {"job": found_or_404(send_job_numbered, pk), "section": "offers"})


@staff_only
@require_safe
def mail_job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment alone, for htmx to swap in."""
    return render(request, "web/staff/_mail_job_progress.html", {"job": found_or_404(send_job_numbered, pk)})


# --- templates ------------------------------------------------------------------------------------


@staff_only
@require_safe
def templates(request: HttpRequest) -> HttpResponse:
    stored = {(template.kind, template.language): template for template in stored_templates()}
    rows = [
        {"kind": kind, "kind_label": MessageTemplate.Kind(kind).label, "language": language,
         "stored": stored.get((kind, language))}
        for kind, language in sorted(set(BUILT_IN) | set(stored))
    ]  # fmt: skip
    return render(request, "web/staff/mail_templates.html", {"rows": rows, "section": "offers"})


@staff_only
@require_http_methods(["GET", "HEAD", "POST"])
def template_edit(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = TemplateForm(request.POST)
    else:
        kind, language = request.GET.get("kind", "code"), request.GET.get("language", "en").strip().lower()
        kind = kind if kind in MessageTemplate.Kind.values else MessageTemplate.Kind.CODE
        language = language if LANGUAGE.fullmatch(language) else "en"  # a template_save can store
        current = wording(kind, language)
        form = TemplateForm(initial={"kind": kind, "language": language, "subject": current.subject,
                                     "body": current.body})  # fmt: skip
    render_page = partial(render, request, "web/staff/mail_template.html",
                          {"form": form, "variables": VARIABLES, "section": "offers"})  # fmt: skip
    if request.method != "POST":
        return render_page(status=200)
    if not form.is_valid():
        return render_page(status=422)
    try:
        template_save(actor=actor_of(request.user), **form.cleaned_data)
    except InvalidInput as refusal:
        refusal_shown(form, refusal)
        return page_refusal(refusal, render_page, on_form=True)
    messages.success(request, "Template saved.")
    return see_other(reverse("staff:mail_templates"))


urlpatterns = [
    path("batches/<int:pk>/mail", batch_mail, name="batch_mail"),
    path("batches/<int:pk>/mail/send", codes_send, name="codes_send"),
    path("batches/<int:pk>/mail/resend-failed", failed_resend, name="failed_resend"),
    path("batches/<int:pk>/mail/remind", remind, name="remind"),
    path("assignments/<int:pk>/resend", resend, name="assignment_resend"),
    path("assignments/<int:pk>/withdraw", withdraw, name="assignment_withdraw"),
    path("mail-jobs/<int:pk>", mail_job, name="mail_job"),
    path("mail-jobs/<int:pk>/progress", mail_job_progress, name="mail_job_progress"),
    path("mail-templates", templates, name="mail_templates"),
    path("mail-templates/edit", template_edit, name="mail_template_edit"),
]
