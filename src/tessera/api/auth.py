"""Who is calling the platform API: a browser's session (with CSRF) or a server's bearer token.

Learner routes need any signed-in user; staff routes also need the manage_vouchers permission
and answer 403 (not 401) to a signed-in user without it.
"""

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from tessera.api.selectors import user_for_token
from tessera.core.errors import Forbidden
from tessera.vouchers.permissions import MANAGE_VOUCHERS


class UserToken(HttpBearer):
    openapi_description = "A user's API token, created with `tessera create-api-token <username>`."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_token(token)
        if user is None:
            # A bad token is refused outright, never passed on to the session cookie beside it.
            raise AuthenticationError()
        request.user = user  # the routes read the caller from request.user either way
        return user


class BrowserSession(SessionAuth):
    """Django's session cookie; ninja checks the CSRF token on unsafe methods for it."""

    openapi_description = "A signed-in browser's session cookie; POSTs need the X-CSRFToken header."

    def _get_key(self, request: HttpRequest) -> str | None:
        # Nobody signed in is 401 unauthorized, not a 403 for a CSRF token that would not help;
        # the CSRF check guards only a session that could act.
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


def _staff_only(user: Any) -> Any:
    if user is not None and not user.has_perm(MANAGE_VOUCHERS):
        raise Forbidden("This needs the permission to manage vouchers.")
    return user


class StaffToken(UserToken):
    openapi_description = "The API token of a user with the manage_vouchers permission."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return _staff_only(super().authenticate(request, token))


class StaffSession(BrowserSession):
    openapi_description = "The session cookie of a user with the manage_vouchers permission; POSTs need CSRF."

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return _staff_only(super().authenticate(request, key))


# Token first: a server sending a bearer token never needs a CSRF token.
USER_AUTH = [UserToken(), BrowserSession()]
STAFF_AUTH = [StaffToken(), StaffSession()]


def caller(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]  # set by the auth classes above
    return user
