"""Personal data: client addresses are kept for a while, then purged; a learner is erased on request.

What stays: every redemption, enrollment and count, and the whole audit log, which names people
by user id only (tessera.vouchers.audit) and so never needs touching; each run adds one audit row
with what it changed. Copies kept by the layers above (webhook bodies, API tokens) are theirs to
clear: they receive `signals.addresses_purging` and `signals.learner_erasing` inside the same
transaction and answer what they changed.
"""

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tessera.core.models import FailureCounter
from tessera.core.ratelimit.keys import ip_key, short_key
from tessera.core.ratelimit.limiter import REFUSED
from tessera.core.ratelimit.stores import DatabaseStore
from tessera.vouchers.audit import audit_record
from tessera.vouchers.errors import StaffNotErasable
from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.signals import addresses_purging, learner_erasing

Counts = dict[str, int]


def address_cutoff(*, now: datetime | None = None) -> datetime:
    """Addresses stored before this are purged: TESSERA_ADDRESS_RETENTION_DAYS (365) ago."""
    return (now or timezone.now()) - timedelta(days=settings.TESSERA_ADDRESS_RETENTION_DAYS)


def address_purge(*, before: datetime, actor: str, dry_run: bool = False) -> Counts:
    """Forgets every client address stored before `before`: redemptions keep their row with
    client_ip NULL (the claimant's country, derived from it when shown, is lost with it), rate-limit
    counters of ended windows go, and the layers above clear their copies. A dry run counts the
    same and rolls it all back, its audit row included."""
    with transaction.atomic():
        unpurged = Redemption.objects.filter(redeemed_at__lt=before, client_ip__isnull=False)
        counts = {"redemptions": unpurged.update(client_ip=None)}
        # Counters are keyed by address but live one window (a day at most); ended ones are due.
        counts["rate_limit_counters"] = DatabaseStore().prune(now=time.time())
        counts.update(_answers(addresses_purging.send(sender=Redemption, before=before)))
        audit_record(action=AuditEvent.Action.PURGED, actor=actor, before=before.isoformat(), changed=counts)
        transaction.set_rollback(dry_run)
    return counts


def learner_erase(*, user: User, actor: str) -> Counts:
    """Removes a learner's personal data and keeps what they did: the account stays (as
    "erased-<id>", no email or names, no usable password, inactive), with its redemptions,
    enrollments and audit rows; their sessions, API tokens and stored addresses go."""
    if user.is_staff or user.is_superuser:
        raise StaffNotErasable()
    with transaction.atomic():
        redemptions = Redemption.objects.filter(user=user, client_ip__isnull=False)
        addresses = {address for address in redemptions.values_list("client_ip", flat=True) if address}
        counts = {"redemptions": redemptions.update(client_ip=None)}
        counts["rate_limit_counters"] = _delete_counters(addresses)
        counts.update(_answers(learner_erasing.send(sender=User, user=user, addresses=addresses)))
        counts["sessions"] = _delete_sessions(user)
        _pseudonymise(user)
        counts["admin_log_entries"] = _rename_in_admin_log(user)
        audit_record(action=AuditEvent.Action.ERASED, actor=actor, user_id=user.pk, changed=counts)
    return counts


def _answers(responses: Iterable[tuple[Any, Any]]) -> Counts:
    return {what: count for _, answer in responses for what, count in answer.items()}


def _delete_counters(addresses: set[str]) -> int:
    """Rate-limit counters of the learner's addresses, the failed attempts' and the refused ones'
    (keys "ip:<address>/<period>" and "refused:ip:<address>/<period>"), in the database store;
    Redis counters end with their window, a day at most."""
    keyed = Q()
    for address in addresses:
        for key in (ip_key(address), REFUSED + ip_key(address)):
            keyed |= Q(key__startswith=f"{short_key(key)}/")
    return FailureCounter.objects.filter(keyed).delete()[0] if addresses else 0


def _pseudonymise(user: User) -> None:
    user.username = f"erased-{user.pk}"
    user.email = user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()


def _delete_sessions(user: User) -> int:
    """Database sessions hold the user's id only inside their encoded data, so each is decoded.
    (The unusable password alone already ends them: Django checks its hash on every request.)"""
    own = [s.pk for s in Session.objects.iterator() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    deleted, _ = Session.objects.filter(pk__in=own).delete()
    return deleted


def _rename_in_admin_log(user: User) -> int:
    """The admin's history names the objects it changed as they were then: the old username."""
    about_user = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(user), object_id=str(user.pk))
    return about_user.update(object_repr=user.username)
