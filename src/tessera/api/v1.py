"""The platform API at /api/v1: its own NinjaAPI and OpenAPI document (/api/v1/docs), and the
one place where its errors become HTTP answers: {"error": code, "detail": message}, plus "field"
for invalid input. (The shop bridge answers in Xikolo's shapes: tessera.shop.api.)
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.operation import Operation

from tessera.api.learner import router as learner_api
from tessera.api.staff import router as staff_api
from tessera.core.apierrors import errors_rendered_by
from tessera.core.errors import DomainError, InvalidInput
from tessera.platforms.api import router as platforms_api
from tessera.platforms.errors import InsufficientScope, WouldBreakCodes
from tessera.vouchers.errors import CodesRefused, RecipientsRefused


class PlatformApi(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """ninja names an operation by its module, and this API's modules moved from tessera.platform
        to tessera.api: the ids stay as they were (tessera_platform_learner_code_check ...), so
        clients generated from the document keep their names."""
        module = operation.view_func.__module__.rsplit(".", 1)[-1]
        return f"tessera_platform_{module}_{operation.view_func.__name__}"


api = PlatformApi(
    title="Tessera platform API",
    version="1",
    description=(
        "The platform API at /api/v1, for learners and staff: a session cookie with CSRF, or a user's bearer token. "
        "The shop bridge at /bridges/shop has its own document: /bridges/shop/docs."
    ),
    urls_namespace="platform-api",
)
api.add_router("", learner_api)
api.add_router("", staff_api)
api.add_router("/platform", platforms_api)

# ninja's own HTTP errors (a failed CSRF check, a body that is not JSON) under stable codes.
HTTP_ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed"}


def render_error(request: HttpRequest, error: Exception) -> HttpResponse:
    if isinstance(error, AuthenticationError):
        detail = "Sign in, or send a valid bearer token (a user's API token, or a platform's access token)."
        response = JsonResponse({"error": "unauthorized", "detail": detail}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tessera"'
        return response
    if isinstance(error, DomainError):
        body: dict[str, object] = {"error": error.code, "detail": error.message}
        if isinstance(error, InvalidInput):
            body["field"] = error.field  # which input to correct, for a client that shows it beside that input
        if isinstance(error, WouldBreakCodes):
            body["would_break"] = error.would_break
        if isinstance(error, CodesRefused | RecipientsRefused):
            body["problems"], body["problem_count"] = error.problems_as_dicts(), error.problem_count
        if isinstance(error, InsufficientScope):
            body["scope"] = error.scope
            response = JsonResponse(body, status=error.http_status)
            response["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{error.scope}"'  # RFC 6750
            return response
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


errors_rendered_by(api, render_error, (DomainError, AuthenticationError, ValidationError, HttpError))
