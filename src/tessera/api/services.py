"""API tokens: issued (the plaintext shown once) and revoked, each in the audit log."""

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from tessera.api.models import ApiToken
from tessera.core.tokens import token_digest
from tessera.core.validation import fits_text
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent

TOKEN_PREFIX = "tsr_"  # noqa: S105 (not a secret) tells a platform token from a shop's at a glance, in logs and secret scanners


def api_token_issue(*, user: User, label: str = "", actor: str = "system") -> tuple[ApiToken, str]:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, label=fits_text(ApiToken, "label", label), prefix=plaintext[:8], digest=token_digest(plaintext)
        )
        _audit(AuditEvent.Action.TOKEN_ISSUED, actor, token)
    return token, plaintext


def api_token_revoke(*, token: ApiToken, actor: str = "system") -> None:
    """Revoking a revoked token again changes nothing and logs nothing."""
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            _audit(AuditEvent.Action.TOKEN_REVOKED, actor, token)


def _audit(action: str, actor: str, token: ApiToken) -> None:
    """The token by its id and its user by theirs: never the token, nor its prefix (a part of it),
    nor the username (personal data, see tessera.vouchers.audit)."""
    audit_record(action=action, actor=actor, kind="api_token", token_id=token.pk, user_id=token.user_id)
