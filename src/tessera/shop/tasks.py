"""Webhook deliveries: recorded, queued for `tessera db_worker`, attempted, retried with backoff.

Each attempt is claimed by one conditional UPDATE (`attempts = attempts + 1 WHERE status =
'pending' AND attempts = <the count it was queued at>`), so a delivery already delivered, or a
task made stale by a "retry now", sends nothing; and no row lock is held while the shop's server
answers. Enqueueing never raises to its caller: the redemption or void that produced the event
has committed already, and a failure here is logged and left in the delivery log.

A claim is a lease: it sets `sending_until` (TESSERA_WEBHOOK_LEASE from now) and, in the same
transaction, queues a watchdog task for that moment. Recording the outcome clears the lease, and
the watchdog finds nothing to do. A worker killed mid-attempt records nothing, so the watchdog
claims the delivery (by the same conditional UPDATE, so once however many run) and sends it once
more, with its own watchdog. The tasks run on the "webhooks" queue, which has a worker of its own.

A task can still be lost: a worker may die after taking a task from the queue but before its claim
commits (the task stays "running" for ever), and queueing may fail. Every task worker therefore
sweeps, at its start and then once a lease (`webhook_deliveries_requeue_stuck`, a chore of
tessera.core.chores), for pending deliveries that nothing will pick up any more, and queues each
once again.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult, get_date_max

from tessera.core import webhooks as sending
from tessera.core.errors import DomainError
from tessera.shop import webhooks
from tessera.shop.models import Shop, WebhookDelivery
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent

logger = logging.getLogger(__name__)

# The waits after the first, second, ... failed attempt; after the last, the delivery has failed.
RETRY_DELAYS = (
    timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6),
)  # fmt: skip
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_ERROR = 1000  # characters of an error kept in the log
SWEEP_MAX = 1000  # stuck deliveries queued again by one sweep at most; the rest by the next

Status = WebhookDelivery.Status


class AlreadyDelivered(DomainError):
    code = "already_delivered"
    http_status = 409
    default_message = "This webhook was delivered already; it is not sent twice."


class BeingSent(DomainError):
    code = "webhook_being_sent"
    http_status = 409
    default_message = "This webhook is being sent right now; retry it if that attempt fails."


QUEUE = "webhooks"


@task(queue_name=QUEUE)
def deliver_webhook(delivery_id: int, attempt: int) -> str:
    """`attempt`: how many attempts the delivery had when this task was queued."""
    return webhook_delivery_attempt(delivery_id=delivery_id, attempt=attempt)


@task(queue_name=QUEUE)
def resend_lost_webhook(delivery_id: int, attempt: int) -> str:
    """The watchdog of attempt number `attempt`: sends again if that attempt's lease ran out."""
    return webhook_delivery_attempt(delivery_id=delivery_id, attempt=attempt, lost=True)


def webhook_event_record(*, shop: Shop, event_type: str, data: dict[str, Any]) -> WebhookDelivery:
    """Logs one event for `shop` and queues its first attempt."""
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        shop=shop, event_id=event_id, event_type=event_type, url=shop.webhook_url,
        body=webhooks.event_body(event_id, event_type, data), next_attempt_at=timezone.now(),
    )  # fmt: skip
    _enqueue(delivery.pk, attempt=0)
    return delivery


def webhook_delivery_retry(*, delivery: WebhookDelivery, actor: str = "system") -> None:
    """Retry now: a pending delivery skips its wait, a failed one gets one more attempt, and one
    whose worker was lost (its lease ran out) is sent again without waiting for its watchdog."""
    now = timezone.now()
    not_sending = Q(sending_until__isnull=True) | Q(sending_until__lte=now)
    undelivered = WebhookDelivery.objects.filter(not_sending, pk=delivery.pk).exclude(status=Status.DELIVERED)
    with transaction.atomic():
        retried = undelivered.update(status=Status.PENDING, next_attempt_at=now, sending_until=None)
        if retried:
            audit_record(
                action=AuditEvent.Action.WEBHOOK_RETRIED, actor=actor, delivery_id=delivery.pk,
                shop_id=delivery.shop_id, event_type=delivery.event_type,
            )  # fmt: skip
    delivery.refresh_from_db()
    if not retried:
        raise AlreadyDelivered() if delivery.status == Status.DELIVERED else BeingSent()
    _enqueue(delivery.pk, attempt=delivery.attempts)


def webhook_delivery_attempt(*, delivery_id: int, attempt: int, lost: bool = False) -> str:
    """Sends the delivery once, if it is still waiting for exactly this attempt (with `lost`: if
    attempt number `attempt` lost its worker); answers what became of it: delivered, retrying,
    failed, or skipped."""
    if not _claim(delivery_id, attempt, lost=lost):
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("shop").get(pk=delivery_id)
    status, error = _send(delivery)
    if status is not None and 200 <= status < 300:
        _record(delivery, status=Status.DELIVERED, response=status, error="", delivered_at=timezone.now())
        return "delivered"
    return _retry_or_give_up(delivery, status, error)


def webhook_deliveries_requeue_stuck() -> int:
    """Queues once again each pending delivery that nothing will pick up any more: one whose
    attempt was due, or whose lease (and so its watchdog) ran out, more than a lease ago. Answers
    how many it queued.

    Each is first moved on (its next attempt, or the end of its lease, to now) by a conditional
    UPDATE, and queued only if that hit the row, in the same transaction: so however many workers
    sweep at once, one task is queued, and the next one only if the delivery is still stuck a
    lease later. A task queued beside one that was not lost after all is harmless anyway: the
    attempt's claim is conditional on the attempts count, so only one of the two sends."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE)
    if _queue_behind(overdue):
        return 0
    pending = WebhookDelivery.objects.filter(status=Status.PENDING)
    waiting = pending.filter(sending_until__isnull=True, next_attempt_at__lt=overdue).order_by("next_attempt_at")
    lost = pending.filter(sending_until__lt=overdue).order_by("sending_until")
    requeued = 0
    for pk, attempts, due in waiting.values_list("pk", "attempts", "next_attempt_at")[:SWEEP_MAX]:
        still_waiting = waiting.filter(pk=pk, attempts=attempts, next_attempt_at=due)
        requeued += _requeue(still_waiting, deliver_webhook, pk, attempts, next_attempt_at=now)
    for pk, attempts, lease_ended in lost.values_list("pk", "attempts", "sending_until")[:SWEEP_MAX]:
        still_lost = lost.filter(pk=pk, attempts=attempts, sending_until=lease_ended)
        requeued += _requeue(still_lost, resend_lost_webhook, pk, attempts, sending_until=now)
    return requeued


def _queue_behind(overdue: datetime) -> bool:
    """Whether a webhooks task due before `overdue` is still waiting: its worker is behind (or
    not running), and the deliveries that look stuck may well have their tasks waiting too. The
    sweep then waits, rather than pile copies onto a queue nobody empties."""
    due_long_ago = Q(run_after__lt=overdue) | Q(run_after=get_date_max(), enqueued_at__lt=overdue)
    waiting = DBTaskResult.objects.filter(due_long_ago, queue_name=QUEUE, status=TaskResultStatus.READY)
    return waiting.exists()


def _requeue(
    row: QuerySet[WebhookDelivery], task: Task[[int, int], str], delivery_id: int, attempt: int, **moved_on: datetime
) -> bool:
    with transaction.atomic():
        if not row.update(**moved_on):
            return False
        task.enqueue(delivery_id, attempt)  # in the same transaction (and database): queued once or not at all
    logger.warning("Webhook delivery %s was stuck; queued again (attempt %s)", delivery_id, attempt + 1)
    return True


def _claim(delivery_id: int, attempt: int, *, lost: bool) -> bool:
    """Takes the lease on the delivery's next attempt and queues its watchdog, both or neither."""
    now = timezone.now()
    lease_ends = now + timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE)
    waiting = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, attempts=attempt)
    waiting = waiting.filter(sending_until__lte=now) if lost else waiting.filter(sending_until__isnull=True)
    with transaction.atomic():
        claimed = waiting.update(
            attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=None, sending_until=lease_ends
        )
        if claimed:
            # A second late, so that it never finds the lease still running by a clock's hair.
            watchdog_at = lease_ends + timedelta(seconds=1)
            resend_lost_webhook.using(run_after=watchdog_at).enqueue(delivery_id, attempt + 1)
    return bool(claimed)


def _send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """To the shop's URL and with its secret as they are now, so a shop that moved its endpoint
    or rotated its secret gets the retries there, signed so it can check them."""
    shop = delivery.shop
    if not shop.webhook_url:
        return None, "Webhooks to this shop were turned off."
    delivery.url = shop.webhook_url
    body = delivery.body.encode()
    headers = sending.request_headers(
        secret=shop.webhook_secret, body=body, event_id=str(delivery.event_id), sent_at=timezone.now()
    )
    try:
        status = sending.sender().send(url=delivery.url, body=body, headers=headers)
    except sending.SendFailed as failure:
        return None, str(failure)
    except Exception as error:  # a sender's own bug must still end in a retry, not a stuck delivery
        logger.exception("The webhook sender failed on %s", delivery.event_id)
        return None, f"{type(error).__name__}: {error}"
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


def _retry_or_give_up(delivery: WebhookDelivery, response: int | None, error: str) -> str:
    if delivery.attempts >= MAX_ATTEMPTS or not delivery.shop.webhook_url:
        _record(delivery, status=Status.FAILED, response=response, error=error)
        logger.warning("Webhook %s to %s failed for good: %s", delivery.event_id, delivery.shop, error)
        return "failed"
    next_attempt_at = timezone.now() + RETRY_DELAYS[delivery.attempts - 1]
    _record(delivery, status=Status.PENDING, response=response, error=error, next_attempt_at=next_attempt_at)
    _enqueue(delivery.pk, attempt=delivery.attempts, run_after=next_attempt_at)
    return "retrying"


def _record(
    delivery: WebhookDelivery,
    *,
    status: str,
    response: int | None,
    error: str,
    next_attempt_at: datetime | None = None,
    delivered_at: datetime | None = None,
) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, url=delivery.url, last_response_status=response, last_error=error[:MAX_ERROR],
        next_attempt_at=next_attempt_at, delivered_at=delivered_at, sending_until=None,
    )  # fmt: skip


def _enqueue(delivery_id: int, *, attempt: int, run_after: datetime | None = None) -> None:
    queued = deliver_webhook.using(run_after=run_after) if run_after else deliver_webhook
    try:
        queued.enqueue(delivery_id, attempt)
    except Exception:
        # The event stays pending in the delivery log, where "retry now" queues it again.
        logger.exception("Webhook delivery %s could not be queued", delivery_id)
