"""An import of codes may be larger than Django's general body limit (DATA_UPLOAD_MAX_MEMORY_SIZE,
2.5 MB), which every other request keeps: the most codes one request imports (IN_REQUEST_MAX,
100,000) are about 1.5 MB of JSON at twelve symbols a code and 3.5 MB at the longest, 31. As
tessera.platforms.middleware does for a catalog import."""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

IMPORT_PATH = re.compile(r"/api/v1/offers/\d+/imports")
IMPORT_MAX_BYTES = 8 * 1024 * 1024


class CodesImportBodyMiddleware:
    """Reads an import's body up to IMPORT_MAX_BYTES before the route does, so Django's general
    limit does not refuse it with a bare 400 page; a larger one is answered 413 in the API's shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and IMPORT_PATH.fullmatch(request.path_info):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django reads no body for a length it cannot parse, and neither do we
            if length > IMPORT_MAX_BYTES:
                detail = f"An import is at most {IMPORT_MAX_BYTES // (1024 * 1024)} MB; send it in parts."
                return JsonResponse({"error": "too_large", "detail": detail}, status=413)
            # What HttpRequest.body itself stores, read without its size check.
            request._body = request.read(length) if length else b""
        return self.get_response(request)
