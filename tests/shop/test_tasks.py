"""Webhook deliveries (tessera.shop.tasks): attempted, retried with growing waits, failed, sent
again by staff; an attempt whose worker died is sent once more, and a lost task is queued again."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.core import webhooks
from tessera.shop.models import WebhookDelivery
from tessera.shop.services import shop_webhook_off, shop_webhook_set
from tessera.shop.tasks import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    AlreadyDelivered,
    BeingSent,
    deliver_webhook,
    resend_lost_webhook,
    webhook_deliveries_requeue_stuck,
    webhook_delivery_attempt,
    webhook_delivery_retry,
    webhook_event_record,
)
from tessera.vouchers.models import AuditEvent
from tessera.vouchers.services import BatchSpec, voucher_redeem
from tessera.vouchers.services.jobs import batch_job_create
from tests.auditing import audited, row_text
from tests.commands import run_worker
from tests.concurrency import race
from tests.loopback import Hook, wait_for
from tests.shop.webhooking import (
    URL_B,
    Event,
    RawServer,
    Status,
    WorkerKilled,
    attempts_log,
    leases_run_out,
    queued,
    queued_run_after,
    run_due_tasks,
    shop_code,
    time_passes,
    verify,
)


@pytest.mark.django_db(transaction=True)
class TestAttemptsConcurrently:
    def test_eight_workers_running_the_same_attempt_send_it_once(
        self, sender, shop_a, secret_a, learner, running_session
    ):
        voucher_redeem(code=shop_code(shop_a.shop, running_session), user=learner, session=running_session)
        delivery = WebhookDelivery.objects.get()
        outcomes = race([lambda: webhook_delivery_attempt(delivery_id=delivery.pk, attempt=0)] * 8, connect_first=True)
        assert outcomes == Counter({"delivered": 1, "skipped": 7})
        assert len(sender.requests) == 1
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 200)


@pytest.mark.django_db
class TestDelivery:
    def test_a_delivery_is_signed_with_the_shops_secret(self, sender, delivery, secret_a):
        assert run_due_tasks() == ["delivered"]
        [request] = sender.requests
        assert request["body"] == delivery.body.encode()
        headers = request["headers"]
        assert headers["Content-Type"] == "application/json"
        assert headers["webhook-id"] == str(delivery.event_id)
        assert verify(secret_a, request["body"], headers)
        assert not verify(webhooks.new_secret(), request["body"], headers)
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 200)
        delivery.refresh_from_db()
        assert delivery.delivered_at is not None
        assert delivery.next_attempt_at is None

    def test_an_error_answer_is_retried_after_30_seconds(self, sender, delivery):
        sender.answers.extend([500])
        before = timezone.now()
        assert run_due_tasks() == ["retrying"]
        assert attempts_log(delivery) == (Status.PENDING, 1, 500)
        [run_after] = queued_run_after()
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == run_after
        assert before + timedelta(seconds=30) <= run_after <= timezone.now() + timedelta(seconds=30)
        assert delivery.last_error == "HTTP 500"
        assert run_due_tasks() == []  # not due yet
        time_passes()
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)
        assert len(sender.requests) == 2

    def test_a_network_error_is_retried(self, sender, delivery):
        sender.answers.append(webhooks.SendFailed("URLError: <urlopen error [Errno 111] Connection refused>"))
        assert run_due_tasks() == ["retrying"]
        assert attempts_log(delivery) == (Status.PENDING, 1, None)
        delivery.refresh_from_db()
        assert "Connection refused" in delivery.last_error

    def test_a_sender_that_breaks_is_retried_not_stuck(self, sender, delivery):
        sender.answers.append(RuntimeError("a bug in a custom sender"))
        assert run_due_tasks() == ["retrying"]
        assert attempts_log(delivery) == (Status.PENDING, 1, None)
        delivery.refresh_from_db()
        assert "RuntimeError: a bug in a custom sender" in delivery.last_error

    def test_the_waits_grow_and_the_delivery_fails_after_the_last_attempt(self, sender, delivery):
        sender.answers.extend([503] * MAX_ATTEMPTS)
        waits = []
        for _ in range(MAX_ATTEMPTS - 1):
            started = timezone.now()
            assert run_due_tasks() == ["retrying"]
            [run_after] = queued_run_after()
            waits.append(run_after - started)
            time_passes()
        assert run_due_tasks() == ["failed"]
        slack = timedelta(seconds=5)
        assert all(expected <= wait < expected + slack for wait, expected in zip(waits, RETRY_DELAYS, strict=True))
        assert attempts_log(delivery) == (Status.FAILED, 6, 503)
        assert queued_run_after() == []
        assert len(sender.requests) == 6

    def test_a_delivered_event_is_not_sent_again(self, sender, delivery):
        assert run_due_tasks() == ["delivered"]
        assert deliver_webhook.call(delivery.pk, 0) == "skipped"
        with pytest.raises(AlreadyDelivered):
            webhook_delivery_retry(delivery=delivery)
        assert len(sender.requests) == 1

    def test_retry_now_sends_a_failed_delivery_once_more(self, sender, delivery):
        sender.answers.extend([500] * MAX_ATTEMPTS)
        for _ in range(MAX_ATTEMPTS):
            run_due_tasks()
            time_passes()
        assert attempts_log(delivery)[0] == Status.FAILED
        webhook_delivery_retry(delivery=delivery)
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 7, 200)

    def test_retry_now_makes_the_scheduled_retry_stale(self, sender, delivery):
        sender.answers.extend([500, 500, 500])
        assert run_due_tasks() == ["retrying"]  # the second attempt is queued for later
        webhook_delivery_retry(delivery=delivery)
        assert run_due_tasks() == ["retrying"]  # sent at once, failed, the third attempt queued
        time_passes()
        assert sorted(run_due_tasks()) == ["retrying", "skipped"]  # the old second attempt sent nothing
        assert len(sender.requests) == 3
        time_passes()
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 4, 200)

    def test_retries_go_where_the_shop_is_now_signed_with_its_secret_now(self, sender, delivery, shop_a, secret_a):
        sender.answers.append(500)
        run_due_tasks()
        rotated = shop_webhook_set(shop=shop_a.shop, url=URL_B, rotate_secret=True)
        time_passes()
        assert run_due_tasks() == ["delivered"]
        last = sender.requests[-1]
        assert last["url"] == URL_B
        assert rotated is not None
        assert verify(rotated, last["body"], last["headers"])
        assert not verify(secret_a, last["body"], last["headers"])
        delivery.refresh_from_db()
        assert delivery.url == URL_B

    def test_a_shop_that_turned_webhooks_off_gets_no_more(self, sender, delivery, shop_a):
        shop_webhook_off(shop=shop_a.shop)
        assert run_due_tasks() == ["failed"]
        assert sender.requests == []
        delivery.refresh_from_db()
        assert delivery.last_error == "Webhooks to this shop were turned off."


@pytest.mark.django_db
class TestRetryNowIsAudited:
    def test_a_retry_is_one_row_naming_the_delivery_and_who_asked(self, sender, delivery, shop_a, secret_a):
        sender.answers.append(500)
        run_due_tasks()
        with audited() as rows:
            webhook_delivery_retry(delivery=delivery, actor="user:7")
        [row] = rows
        assert (row.action, row.actor) == (AuditEvent.Action.WEBHOOK_RETRIED, "user:7")
        assert row.detail == {"delivery_id": delivery.pk, "shop_id": shop_a.shop.pk, "event_type": Event.REDEEMED}
        assert secret_a not in row_text(row)

    def test_a_refused_retry_writes_no_row(self, sender, delivery):
        assert run_due_tasks() == ["delivered"]
        with audited() as rows, pytest.raises(AlreadyDelivered):
            webhook_delivery_retry(delivery=delivery, actor="user:7")
        assert rows == []


@pytest.mark.django_db
class TestQueues:
    def test_deliveries_and_their_watchdogs_go_to_the_webhooks_queue(self, sender, delivery, settings):
        run_due_tasks()
        tasks = DBTaskResult.objects.values_list("task_path", "queue_name")
        assert set(tasks) == {(deliver_webhook.module_path, "webhooks"), (resend_lost_webhook.module_path, "webhooks")}
        assert set(settings.TASKS["default"]["QUEUES"]) == {"default", "webhooks"}

    @pytest.mark.django_db(transaction=True)
    def test_a_batch_job_is_picked_up_while_webhooks_flood_their_queue(self, sender, delivery, enrollment_offer):
        for _ in range(300):
            deliver_webhook.enqueue(delivery.pk, 0)
        job = batch_job_create(offer=enrollment_offer, spec=BatchSpec(count=20, country="DE"))
        started = time.monotonic()
        run_worker(queue="default")
        took = time.monotonic() - started
        job.refresh_from_db()
        assert (job.status, job.written) == ("done", 20)
        assert took < 5, f"the batch job took {took:.2f} s"
        assert queued().count() == 301  # not one webhook task taken by the batch jobs' worker


@pytest.mark.django_db
class TestLostAttempts:
    def test_an_attempt_that_ends_leaves_its_watchdog_nothing_to_do(self, sender, delivery):
        assert run_due_tasks() == ["delivered"]
        leases_run_out()
        assert run_due_tasks() == ["skipped"]
        assert len(sender.requests) == 1

    def test_an_attempt_whose_worker_died_is_sent_once_more_when_its_lease_runs_out(self, sender, delivery):
        sender.answers.append(WorkerKilled())
        with pytest.raises(WorkerKilled):
            run_due_tasks()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (Status.PENDING, 1)
        assert delivery.sending_until is not None
        assert run_due_tasks() == []  # the lease still runs: the attempt may yet end
        leases_run_out()
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)
        assert [r["headers"]["webhook-id"] for r in sender.requests] == [str(delivery.event_id)] * 2
        leases_run_out()
        assert run_due_tasks() == ["skipped"]
        assert len(sender.requests) == 2

    def test_retry_now_waits_for_an_attempt_being_sent_and_takes_over_a_lost_one(self, sender, delivery):
        sender.answers.append(WorkerKilled())
        with pytest.raises(WorkerKilled):
            run_due_tasks()
        with pytest.raises(BeingSent):
            webhook_delivery_retry(delivery=delivery)
        leases_run_out()
        queued(resend_lost_webhook).delete()  # the watchdog's worker is slow: staff step in
        webhook_delivery_retry(delivery=delivery)
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)


@pytest.mark.django_db(transaction=True)
class TestLostAttemptsConcurrently:
    def test_eight_watchdogs_of_one_lost_attempt_send_it_once(self, sender, shop_a, secret_a):
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={})
        sender.answers.append(WorkerKilled())
        with pytest.raises(WorkerKilled):
            run_due_tasks()
        leases_run_out()
        outcomes = race(
            [lambda: webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1, lost=True)] * 8, connect_first=True
        )
        assert outcomes == Counter({"delivered": 1, "skipped": 7})
        assert len(sender.requests) == 2
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)


def a_lease() -> timedelta:
    return timedelta(seconds=django_settings.TESSERA_WEBHOOK_LEASE)


def worker_died_holding_its_task(delivery: WebhookDelivery, *, due: timedelta) -> None:
    """As if a worker took the delivery's task from the queue and died before claiming the attempt:
    the task stays "running" for ever, and nothing else is queued; the attempt was due `due` ago."""
    for row in queued():
        row.claim("dead-worker")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - due)


def lost_with_its_watchdog(delivery: WebhookDelivery, sender: Any, *, lease_ended: timedelta) -> None:
    """An attempt whose worker died, and then the worker that took its watchdog task died too."""
    sender.answers.append(WorkerKilled())
    with pytest.raises(WorkerKilled):
        run_due_tasks()
    for row in queued(resend_lost_webhook):
        row.claim("dead-worker")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(sending_until=timezone.now() - lease_ended)


def sent_and_then(status: str) -> Any:
    def put(delivery: WebhookDelivery, sender: Any) -> None:
        run_due_tasks()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status, next_attempt_at=timezone.now() - 2 * a_lease()
        )

    return put


def being_sent(delivery: WebhookDelivery, sender: Any) -> None:
    sender.answers.append(WorkerKilled())
    with pytest.raises(WorkerKilled):
        run_due_tasks()  # the lease runs for a while yet


LEFT_ALONE = {
    "being sent, its lease running": being_sent,
    "its lease just ran out, its watchdog due": lambda d, s: lost_with_its_watchdog(d, s, lease_ended=a_lease() / 2),
    "delivered": sent_and_then(Status.DELIVERED),
    "failed": sent_and_then(Status.FAILED),
    "due less than a lease ago": lambda d, s: worker_died_holding_its_task(d, due=a_lease() / 2),
}


@pytest.mark.django_db
class TestStuckDeliveries:
    """A delivery whose task was lost (its worker died before claiming the attempt, or queueing
    failed) is queued again by the sweep every task worker runs."""

    def test_a_delivery_whose_task_was_lost_is_queued_once_and_delivered(self, shop_a, hook_server, private_allowed):
        secret = shop_webhook_set(shop=shop_a.shop, url=f"{hook_server}/hook")
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={"id": "X"})
        worker_died_holding_its_task(delivery, due=a_lease() + timedelta(seconds=1))
        assert webhook_deliveries_requeue_stuck() == 1
        assert queued().count() == 1
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 204)
        [(path, body, headers)] = Hook.received
        assert (path, headers["webhook-id"]) == ("/hook", str(delivery.event_id))
        assert verify(str(secret), body, headers)

    def test_sweeping_twice_queues_one_task(self, sender, shop_a, secret_a):
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={})
        worker_died_holding_its_task(delivery, due=2 * a_lease())
        assert [webhook_deliveries_requeue_stuck(), webhook_deliveries_requeue_stuck()] == [1, 0]
        assert queued().count() == 1

    def test_a_delivery_still_stuck_a_lease_later_is_queued_once_more(self, sender, shop_a, secret_a):
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={})
        worker_died_holding_its_task(delivery, due=2 * a_lease())
        assert webhook_deliveries_requeue_stuck() == 1
        worker_died_holding_its_task(delivery, due=a_lease() + timedelta(seconds=1))  # its task lost again
        assert webhook_deliveries_requeue_stuck() == 1
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 200)

    def test_an_attempt_whose_watchdog_was_lost_too_is_sent_once_more(self, sender, delivery):
        lost_with_its_watchdog(delivery, sender, lease_ended=a_lease() + timedelta(seconds=1))
        assert webhook_deliveries_requeue_stuck() == 1
        assert queued(resend_lost_webhook).count() == 1
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)
        assert len(sender.requests) == 2

    @pytest.mark.parametrize("put", LEFT_ALONE.values(), ids=LEFT_ALONE.keys())
    def test_a_delivery_something_else_will_pick_up_or_that_is_done_is_left_alone(self, sender, delivery, put):
        put(delivery, sender)
        before = DBTaskResult.objects.count()
        assert webhook_deliveries_requeue_stuck() == 0
        assert DBTaskResult.objects.count() == before

    def test_nothing_is_queued_while_the_webhooks_worker_is_behind(self, sender, delivery):
        long_ago = timezone.now() - 2 * a_lease()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=long_ago)
        queued().update(enqueued_at=long_ago)  # its task is still waiting, a lease overdue
        assert webhook_deliveries_requeue_stuck() == 0
        assert queued().count() == 1


@pytest.mark.django_db(transaction=True)
class TestStuckDeliveriesConcurrently:
    def test_eight_workers_sweeping_at_once_queue_one_task(self, sender, shop_a, secret_a):
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={})
        worker_died_holding_its_task(delivery, due=2 * a_lease())
        outcomes = race([webhook_deliveries_requeue_stuck] * 8, connect_first=True)
        assert outcomes == Counter({"0": 7, "1": 1})  # how many each sweep queued again
        assert queued().count() == 1


@pytest.mark.django_db(transaction=True)
class TestTheTaskWorker:
    def test_sweeps_at_its_start_and_delivers_what_it_queued(self, shop_a, hook_server, private_allowed):
        shop_webhook_set(shop=shop_a.shop, url=f"{hook_server}/hook")
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={"id": "X"})
        worker_died_holding_its_task(delivery, due=a_lease() + timedelta(seconds=1))
        run_worker(queue="webhooks")
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 204)
        assert len(Hook.received) == 1


def hangs_once(server: RawServer, conn: socket.socket) -> None:
    """Holds the first request without answering; answers every later one 204."""
    server.read_request(conn)
    if len(server.requests) == 1:
        server.stop.wait(30)
        return
    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def worker_environment(tmp_path: Any) -> dict[str, str]:
    """The test database, for a `tessera db_worker` in a process of its own; a short lease."""
    db = connections["default"].settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TESSERA_SQLITE_PATH"}}
    if db["ENGINE"] == "django.db.backends.postgresql":
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["TESSERA_SQLITE_PATH"] = str(db["NAME"])
    env.update(
        TESSERA_VAR_DIR=str(tmp_path), TESSERA_SECRET_KEY="test", TESSERA_WEBHOOK_ALLOW_PRIVATE="on",
        TESSERA_WEBHOOK_TIMEOUT="1", TESSERA_WEBHOOK_LEASE="2",
    )  # fmt: skip
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tessera.cli", "db_worker", "--queue-name", "webhooks", "--no-reload",
            "--no-startup-delay", "--interval", "0.1"]  # fmt: skip
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


@pytest.mark.django_db(transaction=True)
class TestAWorkerKilledMidDelivery:
    def test_leads_to_exactly_one_more_attempt_and_the_delivery_ends_delivered(
        self, raw_server, shop_a, private_allowed, tmp_path
    ):
        receiver = raw_server(hangs_once)
        shop_webhook_set(shop=shop_a.shop, url=receiver.url)
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={"id": "X"})
        env = worker_environment(tmp_path)
        first = start_worker(env)
        try:
            wait_for(lambda: len(receiver.requests) == 1, seconds=30, what="the first attempt")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert attempts_log(delivery) == (Status.PENDING, 1, None)  # claimed, then nothing recorded
        second = start_worker(env)
        try:
            wait_for(lambda: attempts_log(delivery)[0] == Status.DELIVERED, seconds=30, what="the delivery")
            time.sleep(0.5)  # room for a wrong extra attempt to show itself
        finally:
            second.terminate()
            second.wait(timeout=30)
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 204)
        assert len(receiver.requests) == 2
        for headers, body in receiver.requests:
            assert headers["webhook-id"] == str(delivery.event_id)
            standardwebhooks.Webhook(shop_a.shop.webhook_secret).verify(body, headers)
