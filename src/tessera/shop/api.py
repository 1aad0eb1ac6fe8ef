"""The shop bridge at /bridges/shop: its own NinjaAPI and OpenAPI document (/bridges/shop/docs),
and the one place where its errors become HTTP answers, in Xikolo's shapes ({"errors": {field:
[word]}}, problem+json 401s and 404s for pages below 1), as compact JSON naming its charset, as
Rails renders it. (The platform API answers in its own shape: tessera.api.v1.)

The document is served at /bridges/shop/openapi, and so also at /bridges/shop/openapi.json: the
bridge's paths are routed as Rails routes them, without a `.json` suffix (shop/middleware.py).
"""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from tessera.core.apierrors import errors_rendered_by
from tessera.core.errors import DomainError, InvalidInput
from tessera.shop import xikolo
from tessera.shop.auth import unauthorized
from tessera.shop.bridge import router as shop_bridge
from tessera.shop.xikolo import PageNotFound, WireErrors

api = NinjaAPI(
    title="Tessera shop bridge",
    version="1",
    description=(
        "The shop bridge at /bridges/shop: Xikolo shop API v1 compatible, with extensions; a shop's bearer token. "
        "The platform API at /api/v1 has its own document: /api/v1/docs."
    ),
    urls_namespace="shop-bridge",
    docs_url="/shop/docs",
    openapi_url="/shop/openapi",
)
# Mounted at /bridges/ with its routes under shop/, not at /bridges/shop/: the bridge routes
# /bridges/shop/ as /bridges/shop (shop/middleware.py), so an API root at /bridges/shop/ would make
# Django's APPEND_SLASH redirect /bridges/shop to itself, round and round.
api.add_router("/shop", shop_bridge)

# Service field names as the bridge calls them.
BRIDGE_FIELDS = {"uses_per_code": "uses", "session": "course_session"}


def render_error(request: HttpRequest, error: Exception) -> HttpResponse:
    if isinstance(error, AuthenticationError):
        return unauthorized(request)
    if isinstance(error, WireErrors):
        return xikolo.answer({"errors": error.errors}, status=422)
    if isinstance(error, PageNotFound):
        problem = {"title": xikolo.PAGE_NOT_FOUND_TITLE, "detail": xikolo.PAGE_NOT_FOUND_DETAIL, "status": 404}
        return xikolo.answer(problem, status=404, content_type=xikolo.PROBLEM_TYPE)
    if isinstance(error, InvalidInput):
        if error.field == "qty":
            return xikolo.answer({"errors": {"base": [error.message]}}, status=422)
        return xikolo.answer({"errors": {BRIDGE_FIELDS.get(error.field, error.field): ["invalid"]}}, status=422)
    if isinstance(error, DomainError):
        return xikolo.answer({"errors": {"base": [error.message]}, "error": error.code}, status=error.http_status)
    if isinstance(error, ValidationError):
        return xikolo.answer({"errors": {"base": ["invalid request"]}}, status=422)
    status = error.status_code if isinstance(error, HttpError) else 400
    return xikolo.answer({"errors": {"base": [str(error)]}}, status=status)


errors_rendered_by(
    api, render_error, (DomainError, WireErrors, PageNotFound, AuthenticationError, ValidationError, HttpError)
)
