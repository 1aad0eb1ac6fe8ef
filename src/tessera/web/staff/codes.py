"""Staff pages: query a code (status, who, when, where), revoke it, reverse one of its redemptions.

Each view parses its input, calls one selector or service (as the staff API's codes routes do)
and shapes the page. A change answers 303 back to the code's page with a message; a refusal
re-renders the page with the refusal in plain words and the status it carries (web/errors.py):
404 for a code that does not exist, 409 for a mistyped code or a redemption already reversed,
422 for a choice that is not on the form.
"""

from collections.abc import Mapping
from functools import partial

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST, require_safe

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.models import Redemption
from tessera.vouchers.selectors.assignments import code_assignments
from tessera.vouchers.selectors.codes import CodeDetails, code_details, redemption_numbered
from tessera.vouchers.services import code_revoke, redemption_reverse, refund_returns_use
from tessera.web.errors import page_refusal
from tessera.web.responses import see_other
from tessera.web.staff.access import staff_only
from tessera.web.staff.common import status_shown

SECTION = "codes"


# The reverse form's choice, as redemption_reverse's give_back_use: None lets the batch's refund
# policy decide.
GIVE_BACK_USE = {"policy": None, "yes": True, "no": False}


class ReverseForm(forms.Form):
    give_back_use = forms.ChoiceField(
        choices=[("policy", "As the batch's refund policy says"), ("yes", "Give the use back"),
                 ("no", "Keep the use spent")],
        required=False,
    )  # fmt: skip

    def choice(self) -> bool | None:
        return GIVE_BACK_USE[self.cleaned_data["give_back_use"] or "policy"]


@staff_only
@require_safe
def code_query(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("code", "").strip()
    if not text:
        return _query_page(request)
    try:
        details = code_details(text)
    except DomainError as refusal:
        return _query_page(request, text=text, refusal=refusal)
    return redirect("staff:code_detail", code=details.code.code)


@staff_only
@require_safe
def code_detail(request: HttpRequest, code: str) -> HttpResponse:
    try:
        details = code_details(code)
    except DomainError as refusal:
        return _query_page(request, text=code, refusal=refusal)
    return _code_page(request, details)


@staff_only
@require_POST
def code_revoke_view(request: HttpRequest, code: str) -> HttpResponse:
    try:
        details = code_details(code)
    except DomainError as refusal:
        return _query_page(request, text=code, refusal=refusal)
    code_revoke(code=details.code, actor=request.user.get_username())
    messages.success(request, f"Code {details.display} is revoked: it cannot be redeemed any more.")
    return see_other(_code_url(details))


@staff_only
@require_POST
def redemption_reverse_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        redemption = redemption_numbered(pk)
    except DomainError as refusal:
        return _query_page(request, refusal=refusal)
    form = ReverseForm(request.POST)
    if not form.is_valid():
        bad_choice = InvalidInput("Choose whether the code gets its use back.", field="give_back_use")
        return _code_page(request, code_details(redemption.code_id), refusal=bad_choice)
    try:
        redemption_reverse(redemption=redemption, actor=request.user.get_username(), give_back_use=form.choice())
    except DomainError as refusal:
        return _code_page(request, code_details(redemption.code_id), refusal=refusal)
    details = code_details(redemption.code_id)
    gave_back = refund_returns_use(batch=details.code.batch, give_back_use=form.choice())
    messages.success(request, _reversed_message(redemption, details, gave_back=gave_back))
    return see_other(_code_url(details))


def _reversed_message(redemption: Redemption, details: CodeDetails, *, gave_back: bool) -> str:
    use = "the code got its use back" if gave_back else "the use stays spent"
    return (
        f"The redemption of {details.display} by {redemption.user.get_username()} is reversed and its "
        f"{redemption.get_product_display().lower()} ended; {use} ({details.code.uses} of {details.code.max_uses} "
        "uses taken)."
    )


def _code_url(details: CodeDetails) -> str:
    return reverse("staff:code_detail", kwargs={"code": details.code.code})


def _query_page(request: HttpRequest, *, text: str = "", refusal: DomainError | None = None) -> HttpResponse:
    context = {"section": SECTION, "code": text, "refusal": refusal}
    return _page(request, "web/staff/code_query.html", context, refusal)


def _code_page(request: HttpRequest, details: CodeDetails, *, refusal: DomainError | None = None) -> HttpResponse:
    label, css = status_shown(details.status)
    context = {
        "section": SECTION, "details": details, "code": details.code, "batch": details.code.batch,
        "offer": details.code.batch.offer, "status_label": label, "status_class": css,
        "revoked_at": details.code.revoked_at or details.code.batch.revoked_at,
        "reverse_form": ReverseForm(), "refusal": refusal, "assignments": code_assignments(details.code),
    }  # fmt: skip
    return _page(request, "web/staff/code_detail.html", context, refusal)


def _page(
    request: HttpRequest, template: str, context: Mapping[str, object], refusal: DomainError | None
) -> HttpResponse:
    render_page = partial(render, request, template, context)
    return page_refusal(refusal, render_page) if refusal else render_page(status=200)


urlpatterns = [
    path("codes", code_query, name="code_query"),
    path("codes/<str:code>", code_detail, name="code_detail"),
    path("codes/<str:code>/revoke", code_revoke_view, name="code_revoke"),
    path("redemptions/<int:pk>/reverse", redemption_reverse_view, name="redemption_reverse"),
]
