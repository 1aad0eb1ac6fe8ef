"""Request checks that hold for a whole surface, whatever view answers."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

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


class LargeBodyMiddleware:
    """Lets the POSTs of one route carry bodies up to `max_bytes`, past Django's general limit
    (DATA_UPLOAD_MAX_MEMORY_SIZE), which every other request keeps. The body is read before the
    route does, so the general limit does not refuse it with a bare 400 page; a larger one is
    answered 413 in the APIs' shape, `too_large`. Subclasses name the route and the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def applies(self, path: str) -> bool:
        raise NotImplementedError

    @property
    def max_bytes(self) -> int:
        raise NotImplementedError

    @property
    def too_large(self) -> str:
        """The 413's detail, e.g. "An import is at most 8 MB; send it in parts."."""
        raise NotImplementedError

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and self.applies(request.path_info):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django reads no body for a length it cannot parse, and neither do we
            if length > self.max_bytes:
                return JsonResponse({"error": "too_large", "detail": self.too_large}, status=413)
            # What HttpRequest.body itself stores, read without its size check (the body is read
            # from the stream once; every later `request.body` answers this).
            request._body = request.read(length) if length else b""
        return self.get_response(request)
