"""Bearer-token authentication of shops, answering as Xikolo's shop bridge does (RFC 6750)."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja.security import HttpBearer

from tessera.shop import xikolo
from tessera.shop.models import Shop
from tessera.shop.selectors import shop_for_token

REALM = "shop-bridge-api"


class ShopToken(HttpBearer):
    openapi_description = "A shop's bearer token, created with `tessera create-shop-token`."

    def authenticate(self, request: HttpRequest, token: str) -> Shop | None:
        return shop_for_token(token)


def unauthorized(request: HttpRequest) -> JsonResponse:
    """401 as application/problem+json: one answer for a missing header, another for a bad token."""
    if not request.headers.get("Authorization", "").strip():
        body: dict[str, Any] = {
            "type": "https://tools.ietf.org/html/rfc6750#section-3",
            "title": "You must provide an Authorization header to access this resource.",
        }
        challenge = f'Bearer realm="{REALM}"'
    else:
        body = {
            "type": "https://tools.ietf.org/html/rfc6750#section-3.1",
            "title": "The bearer token you provided was invalid, has expired or has been revoked.",
        }
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
    response = xikolo.answer({**body, "status": 401}, status=401, content_type=xikolo.PROBLEM_TYPE)
    response["WWW-Authenticate"] = challenge
    return response
