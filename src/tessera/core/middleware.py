"""Request checks that hold for a whole surface, whatever view answers."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

ADMIN_PATH = "/admin/"


class AdminNulMiddleware:
    """NUL in an admin URL (its path, or a query parameter's name or value) is answered 400.

    PostgreSQL text cannot hold NUL, so a list filter (`?tag=%00`) or an object id with one
    makes the query fail with a server error. Django's search box refuses NUL itself; filters,
    ordering and object ids are read by every ModelAdmin, ours and third-party ones, so they are
    checked here, once, before any admin view runs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(ADMIN_PATH) and _has_nul(request):
            return HttpResponseBadRequest("NUL characters are not allowed in the address.", content_type="text/plain")
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    texts = [request.path, *request.GET.keys(), *(value for _, values in request.GET.lists() for value in values)]
    return any("\x00" in text for text in texts)
