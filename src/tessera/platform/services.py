"""API tokens: issued (the plaintext shown once) and revoked."""

import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from tessera.core.tokens import token_digest
from tessera.core.validation import fits_text
from tessera.platform.models import ApiToken

TOKEN_PREFIX = "tsr_"  # noqa: S105 (not a secret) tells a platform token from a shop's at a glance, in logs and secret scanners


def api_token_issue(*, user: User, label: str = "") -> tuple[ApiToken, str]:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, label=fits_text(ApiToken, "label", label), prefix=plaintext[:8], digest=token_digest(plaintext)
    )
    return token, plaintext


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
