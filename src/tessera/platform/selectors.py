"""Which user an API token speaks for."""

import hmac

from django.contrib.auth.models import User

from tessera.core.tokens import token_digest
from tessera.platform.models import ApiToken


def user_for_token(plaintext: str) -> User | None:
    """The active user of a live token, or None; compared in constant time, as shop tokens are."""
    digest = token_digest(plaintext)
    token = ApiToken.objects.select_related("user").filter(digest=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.digest, digest) or not token.user.is_active:
        return None
    return token.user
