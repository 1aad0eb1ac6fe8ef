"""What both HTTP APIs do alike with an error before each renders it in its own shape.

The platform API (tessera.api.v1) and the shop bridge (tessera.shop.api) are two NinjaAPIs,
each with its own exception handler; both answer a database out of reach as DatabaseUnavailable
(503, tessera.core.unavailable), and both say when to come back (Retry-After) on a refusal that knows.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from tessera.core.ratelimit.limiter import RateLimited
from tessera.core.unavailable import DATABASE_ERRORS, DatabaseUnavailable, database_unavailable

Render = Callable[[HttpRequest, Exception], HttpResponse]


def errors_rendered_by(api: NinjaAPI, render: Render, handled: tuple[type[Exception], ...]) -> None:
    """Makes `render` the API's one exception handler for `handled` and for database errors."""

    def handler(request: HttpRequest, error: Exception) -> HttpResponse:
        if isinstance(error, DATABASE_ERRORS):
            error = database_unavailable(request, error)
        response = render(request, error)
        if isinstance(error, RateLimited | DatabaseUnavailable):
            response["Retry-After"] = str(error.retry_after)
        return response

    for error_class in (*handled, *DATABASE_ERRORS):
        api.add_exception_handler(error_class, handler)  # type: ignore[arg-type]  # ninja types it loosely
