"""Who is calling the platform routes: a course platform, by an OAuth 2.0 access token that
`POST /oauth/token` issued to its client (client credentials)."""

import hashlib

from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from oauth2_provider.models import AccessToken

from tessera.platforms.errors import InsufficientScope
from tessera.platforms.models import Platform


class PlatformToken(HttpBearer):
    openapi_description = (
        "An access token from `POST /oauth/token` (grant_type=client_credentials, the platform's client id and "
        "secret), valid for ten minutes, carrying some of the scopes catalog, redeem, entitlements, events."
    )

    def authenticate(self, request: HttpRequest, token: str) -> Platform:
        found = _live_token(token)
        if found is None:
            raise AuthenticationError()
        platform: Platform = found.application.platform
        request.platform_scopes = frozenset(found.scope.split()) & platform.scope_set  # type: ignore[attr-defined]
        return platform


def _live_token(token: str) -> AccessToken | None:
    checksum = hashlib.sha256(token.encode()).hexdigest()
    found = (
        AccessToken.objects.select_related("application__platform")
        .filter(token_checksum=checksum, expires__gt=timezone.now())
        .first()
    )
    if found is None or not hasattr(found.application, "platform"):
        return None
    return found


PLATFORM_AUTH = [PlatformToken()]


def calling_platform(request: HttpRequest, scope: str) -> Platform:
    """The platform behind the request, refused with 403 insufficient_scope unless its token
    carries `scope` (and the platform still holds it)."""
    platform: Platform = request.auth  # type: ignore[attr-defined]  # set by PlatformToken
    if scope not in getattr(request, "platform_scopes", frozenset()):
        raise InsufficientScope(scope)
    return platform
