"""The redeem link's page: /redeem?platform=<slug>&session=<external id>&code=...&return_to=<url>
(docs/platforms.md#redeem-links), which a course platform or an email sends a learner to.

GET shows what the code would unlock (voucher_check) or, in plain words, why it would be
refused, with the code in a field the learner may correct and one button. GET never redeems:
mail scanners fetch the links they find. POST redeems (voucher_redeem, under the failed-attempt
limits as the course page's forms are), then sends the learner to `return_to` if the link may
return there (tessera.platforms.links), else to the session's page with a message. A refusal
re-renders the page as 422 (429 when rate limited). A visitor not signed in is sent to log in
and back to the whole link; a link that names no session Tessera knows is a 404 page.
"""

from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from tessera.catalog.models import CourseSession
from tessera.core.errors import DomainError
from tessera.core.ratelimit.keys import client_ip
from tessera.platforms.links import LinkTarget, link_target, local_return_allowed, return_origin, return_to_allowed
from tessera.vouchers.models import Product
from tessera.vouchers.services import Preview, voucher_check, voucher_redeem
from tessera.web.errors import page_refusal
from tessera.web.forms import RedeemForm
from tessera.web.messages import redeemed_message
from tessera.web.responses import see_other

UNLOCKS = {
    Product.ENROLLMENT: "enrolls you in {session}",
    Product.PROCTORING: "books proctoring for you in {session}",
    Product.REACTIVATION: "reactivates {session} for you",
}


@dataclass(frozen=True)
class Link:
    """What a redeem link names: its session (and platform), and where it may return, if anywhere."""

    target: LinkTarget
    return_to: str | None

    @property
    def session(self) -> CourseSession:
        return self.target.session


@require_http_methods(["GET", "HEAD", "POST"])
def redeem_link(request: HttpRequest) -> HttpResponse:
    link = _link(request)
    if link is None:
        return render(request, "web/redeem_broken.html", status=404)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user  # signed in, from here on
    return _redeem(request, link, user) if request.method == "POST" else _preview(request, link, user)


def _link(request: HttpRequest) -> Link | None:
    target = link_target(platform=request.GET.get("platform", ""), session=request.GET.get("session", ""))
    if target is None:
        return None
    return Link(target=target, return_to=_allowed_return(request, target, request.GET.get("return_to", "")))


def _allowed_return(request: HttpRequest, target: LinkTarget, url: str) -> str | None:
    """`url` if the link may send the learner there: under one of its platform's return URLs,
    or for one of Tessera's own sessions, a path on this site. Anything else is ignored."""
    if target.platform is not None:
        allowed = return_to_allowed(target.platform, url)
    else:
        allowed = local_return_allowed(url, host=request.get_host(), secure=request.is_secure())
    return url if allowed else None


def _preview(request: HttpRequest, link: Link, user: AbstractBaseUser) -> HttpResponse:
    code = request.GET.get("code", "")
    if not code.strip():
        return _page(request, link, RedeemForm())
    form = RedeemForm({"code": code})
    if not form.is_valid():
        return _page(request, link, form, status=422)
    try:
        preview = voucher_check(
            code=form.cleaned_data["code"], user=user, session=link.session, client_ip=client_ip(request)
        )
    except DomainError as refusal:
        form.add_error("code", refusal.message)
        return page_refusal(refusal, partial(_page, request, link, form), on_form=True)
    return _page(request, link, form, unlocks=_unlocks(preview))


def _redeem(request: HttpRequest, link: Link, user: AbstractBaseUser) -> HttpResponse:
    form = RedeemForm(request.POST)
    if not form.is_valid():
        return _page(request, link, form, status=422)
    try:
        redemption = voucher_redeem(
            code=form.cleaned_data["code"], user=user, session=link.session, client_ip=client_ip(request)
        )
    except DomainError as refusal:
        form.add_error("code", refusal.message)
        return page_refusal(refusal, partial(_page, request, link, form), on_form=True)
    if link.return_to:
        # No message: it would wait in the session and show on some later page of Tessera's.
        return see_other(link.return_to)
    messages.success(request, redeemed_message(redemption, link.session))
    return see_other(reverse("web:course_detail", args=[link.session.slug]))


def _page(
    request: HttpRequest, link: Link, form: RedeemForm, *, status: int = 200, unlocks: str | None = None
) -> HttpResponse:
    context = {
        "session": link.session, "platform": link.target.platform, "form": form, "unlocks": unlocks,
        "return_to": link.return_to,
    }  # fmt: skip
    response = render(request, "web/redeem.html", context, status=status)
    origin = return_origin(link.return_to) if link.return_to else None
    if origin:
        # The form's POST is answered by a redirect to return_to, and browsers hold redirects
        # after a form to the page's form-action: django-csp adds the origin to 'self' here.
        response._csp_update = {"form-action": [origin]}  # type: ignore[attr-defined]
    return response


def _unlocks(preview: Preview) -> str:
    """What the code would do, in a sentence: "This code enrolls you in Python: 2026."."""
    sentence = "This code " + UNLOCKS[Product(preview.product)].format(session=preview.session) + "."
    expires_at = preview.code.batch.expires_at
    return f"{sentence} It can be redeemed until {expires_at:%Y-%m-%d %H:%M} UTC." if expires_at else sentence
