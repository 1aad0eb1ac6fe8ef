"""Tessera's one NinjaAPI, and the one place where errors become HTTP answers.

The shop bridge answers in Xikolo's shapes ({"errors": {field: [word]}}, problem+json 401s and
404s for pages below 1), as compact JSON naming its charset, as Rails renders it;
everything else answers {"error": code, "detail": message}, plus "field" for invalid input.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from tessera.core.errors import DomainError, InvalidInput
from tessera.core.ratelimit import RateLimited
from tessera.core.unavailable import DATABASE_ERRORS, DatabaseUnavailable, database_unavailable
from tessera.platform.learner import router as learner_api
from tessera.platform.staff import router as staff_api
from tessera.shop import wire
from tessera.shop.auth import unauthorized
from tessera.shop.bridge import router as shop_bridge
from tessera.shop.wire import PageNotFound, WireErrors

BRIDGE = "/bridges/shop"
PLATFORM = "/api/v1"
# Service field names as the bridge calls them.
BRIDGE_FIELDS = {"uses_per_code": "uses", "session": "course_session"}

api = NinjaAPI(
    title="Tessera",
    version="1",
    description=(
        "The platform API at /api/v1 (learners and staff; a session cookie with CSRF, or a user's bearer token) "
        "and the shop bridge at /bridges/shop (Xikolo shop API v1 compatible, with extensions)."
    ),
    urls_namespace="tessera-api",
)
api.add_router(BRIDGE, shop_bridge)
api.add_router(PLATFORM, learner_api)
api.add_router(PLATFORM, staff_api)


# ninja's own HTTP errors (a failed CSRF check, a body that is not JSON) under stable codes.
HTTP_ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed"}


def render_error(request: HttpRequest, error: Exception) -> HttpResponse:
    if isinstance(error, DATABASE_ERRORS):
        error = database_unavailable(request, error)
    response = _rendered(request, error)
    if isinstance(error, RateLimited | DatabaseUnavailable):
        response["Retry-After"] = str(error.retry_after)
    return response


def _rendered(request: HttpRequest, error: Exception) -> HttpResponse:
    if request.path.startswith(BRIDGE):
        return unauthorized(request) if isinstance(error, AuthenticationError) else _bridge_error(error)
    if isinstance(error, AuthenticationError):
        response = JsonResponse({"error": "unauthorized", "detail": "Sign in, or send a user's API token."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tessera"'
        return response
    if isinstance(error, DomainError):
        body = {"error": error.code, "detail": error.message}
        if isinstance(error, InvalidInput):
            body["field"] = error.field  # which input to correct, for a client that shows it beside that input
        return JsonResponse(body, status=error.http_status)
    if isinstance(error, ValidationError):
        return JsonResponse({"error": "invalid_input", "detail": _plain(error.errors)}, status=422)
    status = error.status_code if isinstance(error, HttpError) else 400
    if status == 400:
        # ninja's only 400 is a body that is not JSON at all: a payload that does not validate.
        return JsonResponse({"error": "invalid_input", "detail": str(error)}, status=422)
    return JsonResponse({"error": HTTP_ERROR_CODES.get(status, "bad_request"), "detail": str(error)}, status=status)


def _plain(errors: list[dict[str, object]]) -> list[dict[str, object]]:
    """pydantic's error entries without the echoed input and context, which may not be JSON."""
    return [{key: entry[key] for key in ("type", "loc", "msg") if key in entry} for entry in errors]


def _bridge_error(error: Exception) -> JsonResponse:
    if isinstance(error, WireErrors):
        return wire.answer({"errors": error.errors}, status=422)
    if isinstance(error, PageNotFound):
        problem = {"title": wire.PAGE_NOT_FOUND_TITLE, "detail": wire.PAGE_NOT_FOUND_DETAIL, "status": 404}
        return wire.answer(problem, status=404, content_type=wire.PROBLEM_TYPE)
    if isinstance(error, InvalidInput):
        if error.field == "qty":
            return wire.answer({"errors": {"base": [error.message]}}, status=422)
        return wire.answer({"errors": {BRIDGE_FIELDS.get(error.field, error.field): ["invalid"]}}, status=422)
    if isinstance(error, DomainError):
        return wire.answer({"errors": {"base": [error.message]}, "error": error.code}, status=error.http_status)
    if isinstance(error, ValidationError):
        return wire.answer({"errors": {"base": ["invalid request"]}}, status=422)
    status = error.status_code if isinstance(error, HttpError) else 400
    return wire.answer({"errors": {"base": [str(error)]}}, status=status)


HANDLED = (DomainError, WireErrors, PageNotFound, AuthenticationError, ValidationError, HttpError, *DATABASE_ERRORS)
for error_class in HANDLED:
    api.add_exception_handler(error_class, render_error)  # type: ignore[arg-type]  # ninja types it loosely
