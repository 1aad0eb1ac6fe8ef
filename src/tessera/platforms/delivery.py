"""Webhooks to a course platform: each of its events, in sequence order, at least once.

An ordered stream cannot skip an event that fails, so a platform's events are sent by one
delivery run at a time, one after another over a kept-alive connection. The run holds a lease on
the platform's row (`delivery_lease_until`, taken by a conditional UPDATE). It moves
`delivered_seq` past what the platform took (2xx) and renews the lease once a page, or once a
second within a long one: one write per page, not per event, since each is a commit. On a failed
attempt it keeps what was taken, counts the failure, sets `next_attempt_at` by the back-off (1 s,
5 s, 30 s, 2 min, then every 10 min, for ever) and stops, with a task queued for that moment in
the same transaction. A run that dies mid-send leaves its lease to run out; what it sent since
its cursor last moved is then sent again, so a receiver may see an event twice and drops repeats
by its id (the `webhook-id` header).

A task is queued on the "webhooks" queue after events commit, unless a run is under way (its
lease live) or a retry waits (`delivery_wake`): a run, after it releases its lease, looks once
more for events that came meanwhile. A task may still be lost (a worker dying between taking it
and its claim); every task worker therefore sweeps (`platform_deliveries_restart`, a chore of
tessera.core.chores) for platforms that are behind with no run and no retry waiting, and queues
one for each.

The signing, the sender and its guard against requests to internal addresses are the shop's
webhooks' too (tessera.core.webhooks, tessera.core.destinations).
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, When
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult, get_date_max

from tessera.core import webhooks
from tessera.core.destinations import url_origin, webhook_url_checked
from tessera.core.validation import fits_text
from tessera.platforms.feed import event_body
from tessera.platforms.models import Platform, PlatformEvent
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent

logger = logging.getLogger(__name__)

QUEUE = "webhooks"
# The waits after the first, second, ... failed attempt in a row; the last one repeats for ever.
RETRY_DELAYS = (
    timedelta(seconds=1), timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
)  # fmt: skip
PAGE = 100  # events read at a time
# While a page is sent, the cursor moves (and the lease is renewed) once this many seconds have
# passed, and at the page's end: one write a page, not one an event (each a commit, which bounded
# the delivery's rate). A run that dies sends again, later, what it sent since its last move.
CURSOR_EVERY = 1.0
RUN_MAX = 1000  # events one task sends before it hands over to a new one, so other platforms get their turn
MAX_ERROR = 1000  # characters of an error kept
SWEEP_MAX = 1000  # platforms one sweep queues at most


@task(queue_name=QUEUE)
def deliver_platform_events(platform_id: int) -> str:
    return platform_events_deliver(platform_id=platform_id)


def delivery_queue(platform_id: int, *, run_after: datetime | None = None) -> None:
    """Queues a delivery run; never raises (it runs after a commit that stands whatever happens
    here, and the sweep queues one later)."""
    queued = deliver_platform_events.using(run_after=run_after) if run_after else deliver_platform_events
    try:
        queued.enqueue(platform_id)
    except Exception:
        logger.exception("The webhook delivery of platform %s could not be queued", platform_id)


def delivery_wake(platform_id: int) -> None:
    """After a commit that wrote the platform's events: queues a delivery run, unless a run holds
    the lease or a retry is waiting, either of which sends these events too. Never loses one: a
    run releases its lease and only then looks for more events (`platform_events_deliver`), so a
    lease seen live here, after this commit, is released before that look, which finds them."""
    now = timezone.now()
    busy = Q(delivery_lease_until__gte=now) | Q(next_attempt_at__gt=now)
    if not Platform.objects.filter(busy, pk=platform_id).exists():
        delivery_queue(platform_id)


def platform_events_deliver(*, platform_id: int) -> str:
    """Sends the platform's undelivered events in order, unless another run holds the lease, a
    retry waits, or nothing is to be sent; answers "delivered <n>", "retrying after <n>" or
    "skipped"."""
    sent, sender = 0, None
    try:
        while sent < RUN_MAX and (lease := _claim(platform_id)) is not None:
            sender = sender or webhooks.sender(keep_alive=True)
            done, failed = _send_page(platform_id, lease, sender, budget=RUN_MAX - sent)
            sent += done
            if failed:
                return f"retrying after {sent}"
            if not done:
                break  # claimed, yet no event to read: never spin on it
        if sent >= RUN_MAX:
            delivery_queue(platform_id)  # the rest in a new task, behind the other platforms' ones
    finally:
        if sender is not None:
            sender.close()
    return f"delivered {sent}" if sent else "skipped"


def _claim(platform_id: int) -> datetime | None:
    """The lease, if this run may send: webhooks on, events undelivered, no live lease, no retry
    waiting. The lease's end is its token: only the run that set it renews or releases it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE)
    free = Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lt=now)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimable = Platform.objects.filter(free, due, pk=platform_id, last_event_seq__gt=F("delivered_seq"))
    return lease if claimable.exclude(webhook_url="").update(delivery_lease_until=lease) else None


def _send_page(platform_id: int, lease: datetime, sender: webhooks.Sender, *, budget: int) -> tuple[int, bool]:
    """Sends the next page of events under the lease; answers how many were delivered and
    whether an attempt failed (and the retry is queued)."""
    platform = Platform.objects.get(pk=platform_id)
    events = PlatformEvent.objects.filter(platform_id=platform_id, seq__gt=platform.delivered_seq).order_by("seq")
    done, delivered, moved_at = 0, None, time.monotonic()
    for event in events[: min(PAGE, budget)]:
        error = _post(sender, platform, event)
        if error:
            _back_off(platform, lease, error, delivered=delivered)
            return done, True
        delivered, done = event.seq, done + 1
        if time.monotonic() - moved_at >= CURSOR_EVERY:
            renewed = _advanced(platform_id, delivered, lease)
            if renewed is None:  # the lease ran out and another run took over: it sends from here
                return done, False
            lease, moved_at = renewed, time.monotonic()
    _finished(platform_id, delivered, lease)
    return done, False


def _post(sender: webhooks.Sender, platform: Platform, event: PlatformEvent) -> str:
    """One attempt; answers "" when the platform took it (2xx), else what went wrong."""
    body = event_body(event)
    headers = webhooks.request_headers(
        secret=platform.webhook_secret, body=body, event_id=str(event.id), sent_at=timezone.now()
    )
    try:
        status = sender.send(url=platform.webhook_url, body=body, headers=headers)
    except webhooks.SendFailed as failure:
        return str(failure)
    except Exception as error:  # a sender's own bug must still end in a retry, not a stuck stream
        logger.exception("The webhook sender failed on platform event %s", event.id)
        return f"{type(error).__name__}: {error}"
    return "" if 200 <= status < 300 else f"HTTP {status} for event {event.seq}"


def _owned(platform_id: int, lease: datetime) -> QuerySet[Platform]:
    return Platform.objects.filter(pk=platform_id, delivery_lease_until=lease)


def _advanced(platform_id: int, seq: int, lease: datetime) -> datetime | None:
    """Moves the cursor past `seq` and renews the lease; None if the lease is no longer this run's."""
    renewed = timezone.now() + timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE)
    moved = _owned(platform_id, lease).update(delivery_lease_until=renewed, **_delivered_past(seq))
    return renewed if moved else None


def _finished(platform_id: int, seq: int | None, lease: datetime) -> None:
    """Ends a page: the cursor past `seq` (when it sent any) and the lease released, at once."""
    delivered = {} if seq is None else _delivered_past(seq)
    _owned(platform_id, lease).update(delivery_lease_until=None, **delivered)


def _delivered_past(seq: int) -> dict[str, Any]:
    return {"delivered_seq": seq, "attempts": 0, "next_attempt_at": None, "last_error": ""}


def _back_off(platform: Platform, lease: datetime, error: str, *, delivered: int | None) -> None:
    """Counts the failed attempt (the first in a row if this run delivered any before it), keeps
    what was delivered, and queues the retry."""
    attempts = 1 if delivered is not None else platform.attempts + 1
    retry_at = timezone.now() + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    cursor = {} if delivered is None else {"delivered_seq": delivered}
    with transaction.atomic():
        if _owned(platform.pk, lease).update(
            attempts=attempts, next_attempt_at=retry_at, last_error=error[:MAX_ERROR], delivery_lease_until=None,
            **cursor,
        ):  # fmt: skip
            # In the same transaction (and database): the retry is queued if and only if it is due.
            deliver_platform_events.using(run_after=retry_at).enqueue(platform.pk)
    logger.info("Webhook to platform %s failed (%s); next attempt at %s", platform.pk, error, retry_at)


def platform_deliveries_restart() -> int:
    """Queues a delivery run for each platform that is behind with nothing under way: no live
    lease, and no retry due within the last lease (whose task may be about to run). Answers how
    many it queued. Several workers may queue one each: all but one find the lease taken."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE)
    if _queue_behind(overdue):
        return 0
    idle = Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lt=now)
    not_waiting = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=overdue)
    behind = Platform.objects.filter(idle, not_waiting, last_event_seq__gt=F("delivered_seq")).exclude(webhook_url="")
    stuck = list(behind.values_list("pk", flat=True)[:SWEEP_MAX])
    for platform_id in stuck:
        delivery_queue(platform_id)
    return len(stuck)


def _queue_behind(overdue: datetime) -> bool:
    """Whether a delivery task due before `overdue` is still waiting: the webhooks worker is behind
    (or not running), and the sweep would only pile copies onto a queue nobody empties."""
    due_long_ago = Q(run_after__lt=overdue) | Q(run_after=get_date_max(), enqueued_at__lt=overdue)
    waiting = DBTaskResult.objects.filter(
        due_long_ago, task_path=deliver_platform_events.module_path, status=TaskResultStatus.READY
    )
    return waiting.exists()


# --- where the webhooks go (the CLI's set-platform-webhook, the admin) ------------------------------


def platform_webhook_set(
    *, platform: Platform, url: str | None = None, rotate_secret: bool = False, actor: str = "system"
) -> str | None:
    """Points the platform's webhooks at `url` (None keeps the URL it has). Its first URL brings a
    signing secret, `rotate_secret` a new one; the new secret is answered, to be shown once, and
    None when it stays as it was. Webhooks turned on start after the newest event (the feed has
    the ones before); a changed URL keeps the cursor and is tried at once."""
    checked = None if url is None else webhook_url_check(url)
    fresh = webhooks.new_secret() if rotate_secret or not platform.webhook_secret else None
    if checked is None and fresh is None:
        return None  # nothing asked for
    changes: dict[str, object] = {"webhook_secret": fresh} if fresh else {}
    if checked is not None:
        turned_on = When(webhook_url="", then=F("last_event_seq"))
        changes.update(
            webhook_url=checked, delivered_seq=Case(turned_on, default=F("delivered_seq")), attempts=0,
            next_attempt_at=None, last_error="",
        )  # fmt: skip
    with transaction.atomic():
        Platform.objects.filter(pk=platform.pk).update(**changes)
        if checked is None:
            _audit(AuditEvent.Action.SECRET_ROTATED, actor, platform)
        else:
            _audit(AuditEvent.Action.WEBHOOK_SET, actor, platform, destination=url_origin(checked),
                   new_secret=bool(fresh))  # fmt: skip
        transaction.on_commit(lambda: delivery_queue(platform.pk))
    platform.refresh_from_db()
    return fresh


def platform_webhook_off(*, platform: Platform, actor: str = "system") -> None:
    """No more webhooks to this platform (its feed goes on); the secret is kept for the day its
    URL is set again."""
    with transaction.atomic():
        Platform.objects.filter(pk=platform.pk).update(webhook_url="")
        _audit(AuditEvent.Action.WEBHOOK_OFF, actor, platform)
    platform.refresh_from_db()


def webhook_url_check(url: str) -> str:
    """An absolute http or https URL with a host, within the column's length, or InvalidInput;
    WebhookUrlForbidden if the host resolves to an address webhooks may not go to."""
    url = url.strip()
    fits_text(Platform, "webhook_url", url)
    return webhook_url_checked(url)


def _audit(action: str, actor: str, platform: Platform, **detail: Any) -> None:
    audit_record(action=action, actor=actor, platform_id=platform.pk, **detail)
