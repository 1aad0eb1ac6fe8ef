"""Who is calling the platform API: a browser's session (with CSRF) or a server's bearer token."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from tessera.platform.selectors import user_for_token


class UserToken(HttpBearer):
    openapi_description = "A user's API token, created with `tessera create-api-token <username>`."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user  # the routes read the caller from request.user either way
        return user


class BrowserSession(SessionAuth):
    """Django's session cookie; ninja checks the CSRF token on unsafe methods for it."""

    openapi_description = "A signed-in browser's session cookie; POSTs need the X-CSRFToken header."


# Token first: a server sending a bearer token never needs a CSRF token.
USER_AUTH = [UserToken(), BrowserSession()]
