"""The one place where a service's refusal becomes a page's answer, learner and staff pages alike.

The page is rendered again with the refusal in plain words, under the status its error class
carries (DomainError.http_status): 404 for something that does not exist, 409 for a conflict,
403 for a visitor who may not, 429 with Retry-After for too many attempts. A form sent back with
the refusal beside its input answers 422, whatever the refusal (the form as sent cannot be done),
except 429: that visitor must wait, whatever they type. A refusal is the visitor's problem, never
a server error, so a 5xx status becomes 422 on a page.
"""

from typing import Protocol

from django.http import HttpResponse

from tessera.core.errors import DomainError
from tessera.core.ratelimit.limiter import RateLimited

UNPROCESSABLE = 422


class PageRenderer(Protocol):
    def __call__(self, *, status: int) -> HttpResponse: ...


def page_refusal(refusal: DomainError, render_page: PageRenderer, *, on_form: bool = False) -> HttpResponse:
    """`render_page` (which shows the refusal) under the refusal's status, with Retry-After if it has one."""
    response = render_page(status=refusal_status(refusal, on_form=on_form))
    if isinstance(refusal, RateLimited):
        response["Retry-After"] = str(refusal.retry_after)
    return response


def refusal_status(refusal: DomainError, *, on_form: bool = False) -> int:
    if isinstance(refusal, RateLimited):
        return refusal.http_status
    if on_form or refusal.http_status >= 500:
        return UNPROCESSABLE
    return refusal.http_status
