"""A catalog import's body may be larger than Django's general limit (DATA_UPLOAD_MAX_MEMORY_SIZE,
2.5 MB), which every other request keeps: ten thousand sessions, the most one import carries,
are about 2.6 MB of JSON with short titles and several times that with long ones."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

IMPORT_PATH = "/api/v1/platform/catalog:import"
IMPORT_MAX_BYTES = 16 * 1024 * 1024


class CatalogImportBodyMiddleware:
    """Reads an import's body up to IMPORT_MAX_BYTES before the route does, so Django's general
    limit does not refuse it with a bare 400 page; a larger one is answered 413 in the API's shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info == IMPORT_PATH:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django reads no body for a length it cannot parse, and neither do we
            if length > IMPORT_MAX_BYTES:
                detail = f"A catalog import is at most {IMPORT_MAX_BYTES // (1024 * 1024)} MB; send it in parts."
                return JsonResponse({"error": "too_large", "detail": detail}, status=413)
            # What HttpRequest.body itself stores, read without its size check (the body is read
            # from the stream once; every later `request.body` answers this).
            request._body = request.read(length) if length else b""
        return self.get_response(request)
