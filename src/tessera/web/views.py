"""The learner's pages: the course list, a course session's page with its voucher forms, an
assessment's page with its code form, the dashboard, sign-up, and log-in (Django's own, under the
failed log-in limits; log out is Django's).

A voucher form is parsed, redeemed by one call to `voucher_redeem` (which holds every attempt
to the failed-attempt limits, given the visitor's address) and answered with a 303 back to the
page and a message; a refusal re-renders the page with the form as sent and the refusal in plain
words, as 422 (429 when the visitor is rate limited; web/errors.py).
"""

from functools import partial
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from tessera.catalog.models import Assessment, CourseSession
from tessera.catalog.selectors import (
    assessment_by_slug,
    assessments_shown,
    enrollment_for,
    entitlement_for,
    entitlements_of,
    exam_deadlines,
    session_by_slug,
)
from tessera.core.errors import DomainError, InvalidInput
from tessera.core.ratelimit.keys import client_ip
from tessera.core.ratelimit.limiter import RateLimited
from tessera.vouchers.models import Product
from tessera.vouchers.selectors.offers import assessment_offer_on_sale, offers_on_sale
from tessera.vouchers.services import voucher_redeem
from tessera.web import selectors
from tessera.web.errors import page_refusal
from tessera.web.forms import LoginForm, SignupForm, VoucherForm
from tessera.web.messages import assessment_redeemed_message, redeemed_message
from tessera.web.responses import locked_out, see_other


def course_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    courses = selectors.courses_with_sessions(request.user, now)
    context = {"courses": courses, "assessments": list(assessments_shown()), "now": now}
    return render(request, "web/course_list.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
def course_detail(request: HttpRequest, slug: str) -> HttpResponse:
    session = _session_or_404(slug)
    if request.method != "POST":
        return _course_page(request, session)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = VoucherForm(request.POST, product=request.POST["product"]) if _known(request) else None
    if form is None or not form.is_valid():
        problem = None if form else "Use one of the voucher forms on this page."
        return _course_page(request, session, sent=form, status=422, problem=problem)
    try:
        redemption = voucher_redeem(
            code=form.cleaned_data["code"], user=request.user, session=session,
            product=form.product_name, client_ip=client_ip(request),
        )  # fmt: skip
    except DomainError as refusal:
        form.add_error("code", refusal.message)
        return page_refusal(refusal, partial(_course_page, request, session, sent=form), on_form=True)
    messages.success(request, redeemed_message(redemption, session))
    return see_other(request.path)


def _known(request: HttpRequest) -> bool:
    return request.POST.get("product", "") in Product.values


def _session_or_404(slug: str) -> CourseSession:
    try:
        return session_by_slug(slug)
    except InvalidInput:
        raise Http404("There is no such course.") from None


def _course_page(
    request: HttpRequest, session: CourseSession, *, sent: VoucherForm | None = None, status: int = 200,
    problem: str | None = None,
) -> HttpResponse:  # fmt: skip
    user = request.user
    enrollment = enrollment_for(user=user, session=session) if user.is_authenticated else None
    now = timezone.now()
    shown = selectors.products_to_offer(session, enrollment, now)
    forms = [
        sent if sent is not None and sent.product_name == product else VoucherForm(product=product) for product in shown
    ]
    on_sale = offers_on_sale(session, shown, now)
    if sent is not None and sent.product_name not in shown and sent.errors:
        # Its form has gone (switched off, or held already): say why on the page.
        problem = " ".join(str(message) for message in sent.errors.get("code", []))
    context = {
        "session": session, "enrollment": enrollment, "problem": problem, "now": now,
        # Each form with the offer whose store link it shows ("No code yet? Buy one"), or None.
        "forms": [(form, on_sale.get(form.product_name)) for form in forms],
        "reactivatable": selectors.reactivatable(user=user, session=session, enrollment=enrollment, now=now),
        "deadlines": exam_deadlines(session=session, enrollment=enrollment),
        "assessments": list(assessments_shown(course=session.course)),
    }  # fmt: skip
    return render(request, "web/course_detail.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def assessment_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """An assessment sold on its own (or with its course): its window, the visitor's attempts,
    and one code form, which a holder may use for a code that adds attempts."""
    assessment = _assessment_or_404(slug)
    if request.method != "POST":
        return _assessment_page(request, assessment)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    form = VoucherForm(request.POST, product=Product.ASSESSMENT)
    if not form.is_valid():
        return _assessment_page(request, assessment, sent=form, status=422)
    try:
        redemption = voucher_redeem(
            code=form.cleaned_data["code"], user=request.user, assessment=assessment, product=Product.ASSESSMENT,
            client_ip=client_ip(request),
        )  # fmt: skip
    except DomainError as refusal:
        form.add_error("code", refusal.message)
        return page_refusal(refusal, partial(_assessment_page, request, assessment, sent=form), on_form=True)
    messages.success(request, assessment_redeemed_message(redemption, assessment))
    return see_other(request.path)


def _assessment_or_404(slug: str) -> Assessment:
    try:
        return assessment_by_slug(slug)
    except InvalidInput:
        raise Http404("There is no such assessment.") from None


def _assessment_page(
    request: HttpRequest, assessment: Assessment, *, sent: VoucherForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    entitlement = entitlement_for(user=user, assessment=assessment) if user.is_authenticated else None
    held = entitlement if entitlement is not None and entitlement.active else None
    now = timezone.now()
    shown = selectors.assessment_form_shown(assessment, now)
    context = {
        "assessment": assessment, "entitlement": held, "now": now, "closed": assessment.closed_reason(now),
        "form": (sent or VoucherForm(product=Product.ASSESSMENT)) if shown else None,
        # Where a learner without a code buys one; a holder is shown an offer that adds attempts.
        "offer": assessment_offer_on_sale(assessment, now, adds_attempts=held is not None) if shown else None,
    }  # fmt: skip
    return render(request, "web/assessment_detail.html", context, status=status)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    user = cast(AbstractBaseUser, request.user)  # signed in: login_required
    rows = selectors.dashboard_rows(user, now)
    context = {"rows": rows, "assessments": list(entitlements_of(user)), "now": now}
    return render(request, "web/dashboard.html", context)


class LoginView(auth.LoginView):
    """Django's log-in; a log-in refused by the limits gets the 429 page instead of the form."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().post(request, *args, **kwargs)
        except RateLimited as limited:
            return locked_out(request, limited)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Creates an account, signs it in, and goes on to `next` (if it is one of ours) or the dashboard.
    With TESSERA_SIGNUP off the page does not exist."""
    if not settings.TESSERA_SIGNUP_ENABLED:
        raise Http404("Sign-up is closed.")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        return see_other(next_url or resolve_url("web:dashboard"))
    status = 422 if request.method == "POST" else 200
    return render(request, "registration/signup.html", {"form": form, "next": next_url}, status=status)
