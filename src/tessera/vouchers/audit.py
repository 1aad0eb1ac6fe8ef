"""The append-only audit log: who changed what, when."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from tessera.vouchers.models import AuditEvent, Batch

# Refused attempts store what was typed; cap it so garbage input cannot bloat the log.
MAX_CODE_TEXT = 64


def actor_of(user: AbstractBaseUser | AnonymousUser | None) -> str:
    if user is None or not user.is_authenticated:
        return "anonymous"
    return f"user:{user.get_username()}"


def audit_record(
    *,
    action: str,
    actor: str,
    code: str = "",
    batch: Batch | None = None,
    at: datetime | None = None,
    **detail: object,
) -> AuditEvent:
    return AuditEvent.objects.create(
        at=at or timezone.now(),
        actor=actor[:150],
        action=action,
        code=code[:MAX_CODE_TEXT],
        batch=batch,
        detail=detail,
    )
