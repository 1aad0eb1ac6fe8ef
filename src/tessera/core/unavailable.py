"""The database out of reach: every surface answers 503 with Retry-After, never a 500.

A request that meets a database that is down, restarting or refusing connections gets a 503
in its surface's shape: the APIs render DatabaseUnavailable like any other DomainError
(tessera.core.apierrors), pages and the admin get a plain page from the middleware below. Each is logged
as one warning. Nothing needs restarting when the database is back: with CONN_HEALTH_CHECKS on,
each server thread drops its broken connection at its next request and opens a new one.
"""

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from tessera.core.errors import DomainError

logger = logging.getLogger(__name__)

# What a lost or refused connection raises; OperationalError also covers a lock or statement
# timeout and a deadlock, for which "try again shortly" is the right answer too.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>
<body><h1>Service unavailable</h1><p>{message}</p></body></html>
"""


class DatabaseUnavailable(DomainError):
    code = "database_unavailable"
    http_status = 503
    default_message = "The database cannot be reached just now; nothing was changed. Try again in a few seconds."

    def __init__(self) -> None:
        super().__init__()
        self.retry_after = RETRY_AFTER_SECONDS


def database_unavailable(request: HttpRequest, error: BaseException) -> DatabaseUnavailable:
    """Logs the failure (one line, the cause without a traceback) and answers the error to render."""
    first_line = (str(error).strip() or repr(error)).splitlines()[0]
    logger.warning(
        "Database unavailable (%s: %s) for %s %s; answered 503.",
        type(error).__name__, first_line, request.method, request.path,
    )  # fmt: skip
    return DatabaseUnavailable()


def unavailable_page(request: HttpRequest, error: BaseException) -> HttpResponse:
    refusal = database_unavailable(request, error)
    response = HttpResponse(PAGE.format(message=refusal.message), status=refusal.http_status)
    response["Retry-After"] = str(refusal.retry_after)
    return response


class DatabaseUnavailableMiddleware:
    """Pages and the admin: a view that meets the database out of reach answers the 503 page.
    (The APIs answer in their own shapes before this sees anything: tessera.core.apierrors.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return unavailable_page(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: what escapes a middleware or a template rendered after the view (where
    process_exception does not reach) still answers 503 if the database caused it."""
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_ERRORS):
        return unavailable_page(request, error)
    return defaults.server_error(request)
