"""Signed webhooks to shops on redeem, reversal and void: what is sent, to whom, and how it is retried."""

import base64
import contextlib
import hashlib
import hmac
import http.server
import importlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta
from io import StringIO
from typing import Any, ClassVar

import pytest
import standardwebhooks
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from django_tasks.backends.base import BaseTaskBackend
from django_tasks_db.models import DBTaskResult

from tessera.catalog.models import CourseSession
from tessera.core import webhooks
from tessera.core.destinations import WebhookUrlForbidden
from tessera.core.errors import InvalidInput
from tessera.shop.models import Shop, WebhookDelivery
from tessera.shop.services import shop_vouchers_create, shop_webhook_off, shop_webhook_set
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
from tessera.vouchers.errors import CodeExhausted
from tessera.vouchers.models import AuditEvent, Product, Redemption
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import BatchSpec, redemption_reverse, voucher_redeem
from tessera.vouchers.services.jobs import batch_job_create
from tests.auditing import audited, row_text
from tests.concurrency import race

URL_A = "https://shop-a.example/tessera/hooks"
URL_B = "https://shop-b.example/hooks"
BRIDGE = "/bridges/shop/vouchers"
Status = WebhookDelivery.Status
Event = WebhookDelivery.Event


SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$", re.MULTILINE)  # 32 random bytes, base64


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """What a shop runs on each request (the README's example)."""
    try:
        standardwebhooks.Webhook(secret).verify(body, dict(headers))
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def signed(secret: str, body: bytes, *, event_id: str = "0b6d2c4e", sent_at: Any = None) -> dict[str, str]:
    return webhooks.request_headers(secret=secret, body=body, event_id=event_id, sent_at=sent_at or timezone.now())


class RecordingSender:
    """The outside world, faked: records each request and answers from `answers` (200 when empty)."""

    requests: ClassVar[list[dict[str, Any]]] = []
    answers: ClassVar[list[int | BaseException]] = []

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append({"url": url, "body": body, "headers": dict(headers)})
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        return answer


class BrokenQueue(BaseTaskBackend):
    supports_defer = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("the task queue is down")


@pytest.fixture
def sender(settings: Any) -> Iterator[type[RecordingSender]]:
    settings.TESSERA_WEBHOOK_SENDER = f"{__name__}.RecordingSender"
    RecordingSender.requests.clear()
    RecordingSender.answers.clear()
    yield RecordingSender
    RecordingSender.answers.clear()


@pytest.fixture
def secret_a(shop_a: Any) -> str:
    secret = shop_webhook_set(shop=shop_a.shop, url=URL_A)
    assert secret is not None
    return secret


@pytest.fixture
def secret_b(shop_b: Any) -> str:
    secret = shop_webhook_set(shop=shop_b.shop, url=URL_B)
    assert secret is not None
    return secret


def shop_code(shop: Shop, session: CourseSession, *, uses: int = 1) -> str:
    batch = shop_vouchers_create(
        shop=shop, qty=1, product=Product.ENROLLMENT, country="DE", tag="spring", session=session, uses_per_code=uses
    )
    return display_code(batch.codes.get().code, batch.prefix)


def redeem(capture: Any, code: str, user: User, session: CourseSession) -> Redemption:
    with capture(execute=True):
        return voucher_redeem(code=code, user=user, session=session, client_ip="203.0.113.7")


def run_due_tasks() -> list[str]:
    """What `tessera db_worker` does with each task that is due, one at a time."""
    outcomes = []
    while (row := DBTaskResult.objects.ready().first()) is not None:
        row.claim("test-worker")
        queued = row.task_result
        outcomes.append(row.task.call(*queued.args, **queued.kwargs))
        row.set_successful(outcomes[-1])
    return outcomes


def queued(task: Any = deliver_webhook) -> Any:
    """The tasks waiting in the queue: the attempts, or with resend_lost_webhook their watchdogs."""
    return DBTaskResult.objects.filter(status="READY", task_path=task.module_path)


def time_passes() -> None:
    """Every queued retry becomes due (the watchdogs of finished attempts are left waiting)."""
    queued().update(run_after=timezone.now())


def leases_run_out() -> None:
    """As if TESSERA_WEBHOOK_LEASE had passed: every claimed attempt's lease, and its watchdog, are due."""
    WebhookDelivery.objects.exclude(sending_until=None).update(sending_until=timezone.now() - timedelta(seconds=1))
    queued(resend_lost_webhook).update(run_after=timezone.now())


def queued_run_after() -> list[Any]:
    return list(queued().values_list("run_after", flat=True))


@pytest.fixture
def private_allowed(settings: Any) -> None:
    """TESSERA_WEBHOOK_ALLOW_PRIVATE=on, for receivers on this machine's loopback."""
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def private_refused(settings: Any) -> None:
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False


class TestSignature:
    """Standard Webhooks, checked with the specification's own library as a receiver would."""

    def test_the_signature_verifies_with_the_shops_secret(self):
        secret, body = webhooks.new_secret(), b'{"id":"1","type":"voucher.redeemed"}'
        assert SECRET.match(secret)
        assert verify(secret, body, signed(secret, body))

    def test_the_headers_are_the_specifications(self):
        sent_at = timezone.now()
        headers = signed(webhooks.new_secret(), b"{}", event_id="ev-1", sent_at=sent_at)
        assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("ev-1", str(int(sent_at.timestamp())))
        assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
        assert not [name for name in headers if name.lower().startswith("tessera-")]

    def test_another_secret_does_not_verify(self):
        body = b'{"id":"1","type":"voucher.redeemed"}'
        assert not verify(webhooks.new_secret(), body, signed(webhooks.new_secret(), body))

    def test_a_changed_body_does_not_verify(self):
        secret = webhooks.new_secret()
        assert not verify(secret, b'{"uses":2}', signed(secret, b'{"uses":1}'))

    def test_a_timestamp_older_than_five_minutes_is_refused(self):
        secret, body = webhooks.new_secret(), b"{}"
        stale = signed(secret, body, sent_at=timezone.now() - timedelta(minutes=5, seconds=10))
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
            standardwebhooks.Webhook(secret).verify(body, stale)
        assert verify(secret, body, signed(secret, body, sent_at=timezone.now() - timedelta(minutes=4)))


class TestSettings:
    def test_a_timeout_below_one_second_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT = 0
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E101"]

    def test_a_sender_that_cannot_be_imported_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_SENDER = "tessera.core.webhooks.NoSuchSender"
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E102"]

    def test_a_lease_no_longer_than_the_timeout_is_reported(self, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT, settings.TESSERA_WEBHOOK_LEASE = 10, 10
        assert [error.id for error in webhooks.check_webhook_settings()] == ["tessera.E103"]

    def test_the_default_settings_pass(self):
        assert webhooks.check_webhook_settings() == []


@pytest.mark.django_db
class TestConfiguration:
    def test_the_first_url_makes_a_secret_and_a_new_url_keeps_it(self, shop_a, private_allowed):
        secret = shop_webhook_set(shop=shop_a.shop, url=URL_A)
        assert secret is not None
        assert SECRET.fullmatch(secret)
        assert shop_webhook_set(shop=shop_a.shop, url="http://127.0.0.1:9000/hook") is None
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == ("http://127.0.0.1:9000/hook", secret)

    def test_rotating_makes_a_new_secret_and_keeps_the_url(self, shop_a, secret_a):
        rotated = shop_webhook_set(shop=shop_a.shop, rotate_secret=True)
        assert rotated not in (None, secret_a)
        assert SECRET.fullmatch(rotated or "")
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, rotated)

    @pytest.mark.parametrize(
        "url",
        ["ftp://shop.example/hook", "shop.example/hook", "https://", "https://shop.example/a b", "javascript:alert(1)",
         "https://shop.example:99999/", "https://bücher.example/", "https://shop.example/" + "x" * 500],
    )  # fmt: skip
    def test_a_url_that_is_not_http_is_refused_and_nothing_changes(self, shop_a, secret_a, url):
        with pytest.raises(InvalidInput) as refused:
            shop_webhook_set(shop=shop_a.shop, url=url)
        assert refused.value.field == "webhook_url"
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, secret_a)


@pytest.mark.django_db
class TestSecretMigration:
    """Secrets of the old scheme keep their key in the new form (migration 0003)."""

    migration = importlib.import_module("tessera.shop.migrations.0003_standard_webhooks")

    def test_an_old_hex_secret_becomes_the_same_key_in_the_whsec_form(self, shop_a, shop_b):
        old = "3f" * 32
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_secret=old)
        self.migration.wrap_hex_secrets(django_apps, None)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret == "whsec_" + base64.b64encode(old.encode()).decode()
        body, sent_at = b"{}", timezone.now()
        expected = hmac.new(old.encode(), f"ev.{int(sent_at.timestamp())}.".encode() + body, hashlib.sha256)
        headers = signed(shop_a.shop.webhook_secret, body, event_id="ev", sent_at=sent_at)
        assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()
        shop_b.shop.refresh_from_db()
        assert shop_b.shop.webhook_secret == ""  # a shop without a secret stays without one

    def test_going_back_restores_the_old_secret_and_leaves_new_ones(self, shop_a, shop_b):
        old, fresh = "3f" * 32, webhooks.new_secret()
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_secret=old)
        Shop.objects.filter(pk=shop_b.shop.pk).update(webhook_secret=fresh)
        self.migration.wrap_hex_secrets(django_apps, None)
        self.migration.unwrap_hex_secrets(django_apps, None)
        assert list(Shop.objects.order_by("name").values_list("webhook_secret", flat=True)) == [old, fresh]


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("set_shop_webhook", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestCommand:
    def test_setting_a_url_prints_the_new_secret_once(self, shop_a):
        first = run_command("Shop A", URL_A)
        [secret] = SECRET.findall(first)
        assert Shop.objects.get(name="Shop A").webhook_secret == secret
        again = run_command("Shop A", URL_B)
        assert secret not in again
        assert "unchanged" in again

    def test_rotate_secret_prints_a_new_one(self, shop_a, secret_a):
        [rotated] = SECRET.findall(run_command("Shop A", "--rotate-secret"))
        assert rotated != secret_a
        assert Shop.objects.get(name="Shop A").webhook_secret == rotated

    def test_off_clears_the_url(self, shop_a, secret_a):
        run_command("Shop A", "--off")
        assert Shop.objects.get(name="Shop A").webhook_url == ""

    def test_a_bad_url_is_invalid_input(self, shop_a):
        with pytest.raises(CommandError, match=r"^invalid_input: The webhook URL must be an http or https URL"):
            run_command("Shop A", "ftp://shop.example/")
        assert Shop.objects.get(name="Shop A").webhook_url == ""

    def test_an_unknown_shop_is_not_found(self, db):
        with pytest.raises(CommandError, match=r"^not_found: "):
            run_command("Nobody", URL_A)

    def test_nothing_to_do_is_invalid_input(self, shop_a):
        with pytest.raises(CommandError, match=r"^invalid_input: name a URL"):
            run_command("Shop A")


@pytest.mark.django_db
class TestEvents:
    def test_a_redemption_sends_one_event_to_the_shop_that_sold_the_code(
        self, sender, shop_a, secret_a, shop_b, secret_b, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        [delivery] = WebhookDelivery.objects.all()
        assert (delivery.shop, delivery.event_type, delivery.url) == (shop_a.shop, "voucher.redeemed", URL_A)
        assert run_due_tasks() == ["delivered"]
        assert [request["url"] for request in sender.requests] == [URL_A]

    def test_the_redeemed_event_says_when_where_and_from_which_address(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session, uses=3)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        event = json.loads(WebhookDelivery.objects.get().body)
        assert list(event) == ["id", "type", "created_at", "data"]
        assert uuid.UUID(event["id"]) == WebhookDelivery.objects.get().event_id
        assert event["type"] == "voucher.redeemed"
        assert event["data"] == {
            "id": code, "product": "course_enrollment", "tag": "spring", "uses": 1, "max_uses": 3,
            "claimed_at": redemption.redeemed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "claimant_ip": "203.0.113.7", "claimant_country": "AAA",
            "course_session": running_session.slug, "course": running_session.course.slug,
        }  # fmt: skip

    def test_codes_of_a_shop_without_a_url_and_of_no_shop_send_nothing(
        self, sender, shop_a, learner, other_learner, running_session, enrollment_offer, make_code,
        django_capture_on_commit_callbacks,
    ):  # fmt: skip
        redeem(django_capture_on_commit_callbacks, shop_code(shop_a.shop, running_session), learner, running_session)
        redeem(django_capture_on_commit_callbacks, make_code(enrollment_offer), other_learner, running_session)
        assert Redemption.objects.count() == 2
        assert not WebhookDelivery.objects.exists()
        assert not DBTaskResult.objects.exists()

    def test_a_refused_redemption_sends_nothing(
        self, sender, shop_a, secret_a, learner, other_learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with pytest.raises(CodeExhausted):
            redeem(django_capture_on_commit_callbacks, code, other_learner, running_session)
        assert WebhookDelivery.objects.count() == 1

    def test_a_redemption_rolled_back_sends_nothing(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        with (  # noqa: PT012
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            voucher_redeem(code=code, user=learner, session=running_session)
            raise RuntimeError("the caller's transaction fails after the redemption")
        assert not Redemption.objects.exists()
        assert not WebhookDelivery.objects.exists()

    def test_voiding_a_redeemed_code_sends_the_reversal_then_the_void(
        self, client, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"{BRIDGE}/{code}/void", **shop_a.auth).status_code == 200
        events = [json.loads(d.body) for d in WebhookDelivery.objects.order_by("pk")]
        assert [e["type"] for e in events] == ["voucher.redeemed", "voucher.redemption_reversed", "voucher.voided"]
        reversal, void = events[1]["data"], events[2]["data"]
        assert (reversal["id"], reversal["use_returned"], reversal["course_session"]) == (code, False, "python-2026")
        assert reversal["reversed_at"] is not None
        assert (void["id"], void["uses"], void["max_uses"]) == (code, 1, 1)
        assert void["voided_at"] is not None

    def test_voiding_twice_sends_one_void(
        self, client, sender, shop_a, secret_a, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                assert client.post(f"{BRIDGE}/{code}/void", **shop_a.auth).status_code == 200
        assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["voucher.voided"]

    def test_a_refund_by_staff_sends_the_reversal(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks
    ):
        code = shop_code(shop_a.shop, running_session)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        with django_capture_on_commit_callbacks(execute=True):
            redemption_reverse(redemption=redemption, actor="cli")
        reversal = WebhookDelivery.objects.get(event_type="voucher.redemption_reversed")
        data = json.loads(reversal.body)["data"]
        assert (data["use_returned"], data["uses"]) == (True, 0)

    def test_a_queue_that_is_down_does_not_undo_the_redemption(
        self, sender, shop_a, secret_a, learner, running_session, django_capture_on_commit_callbacks, settings, caplog
    ):
        settings.TASKS = {"default": {"BACKEND": f"{__name__}.BrokenQueue"}}
        code = shop_code(shop_a.shop, running_session)
        redemption = redeem(django_capture_on_commit_callbacks, code, learner, running_session)
        assert Redemption.objects.get() == redemption
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == Status.PENDING  # in the log, for "retry now"
        assert "could not be queued" in caplog.text

    def test_an_event_that_cannot_be_recorded_does_not_undo_the_redemption(
        self, sender, shop_a, secret_a, learner, running_session, capture, monkeypatch, caplog
    ):
        def unavailable(**kwargs: Any) -> None:
            raise DatabaseError("the delivery log is unavailable")

        monkeypatch.setattr("tessera.shop.receivers.webhook_event_record", unavailable)
        redemption = redeem(capture, shop_code(shop_a.shop, running_session), learner, running_session)
        assert Redemption.objects.get() == redemption
        assert "could not be recorded" in caplog.text


@pytest.mark.django_db(transaction=True)
class TestAfterCommit:
    """Real commits and rollbacks, not captured callbacks."""

    def test_a_committed_redemption_is_logged_and_a_rolled_back_one_is_not(
        self, sender, shop_a, secret_a, learner, other_learner, running_session
    ):
        code = shop_code(shop_a.shop, running_session, uses=2)
        with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
            voucher_redeem(code=code, user=learner, session=running_session)
            raise RuntimeError("rolled back")
        assert not WebhookDelivery.objects.exists()
        voucher_redeem(code=code, user=other_learner, session=running_session)
        assert WebhookDelivery.objects.get().event_type == "voucher.redeemed"
        assert run_due_tasks() == ["delivered"]

    def test_eight_workers_running_the_same_attempt_send_it_once(
        self, sender, shop_a, secret_a, learner, running_session
    ):
        voucher_redeem(code=shop_code(shop_a.shop, running_session), user=learner, session=running_session)
        delivery = WebhookDelivery.objects.get()
        outcomes = race([lambda: webhook_delivery_attempt(delivery_id=delivery.pk, attempt=0)] * 8, connect_first=True)
        assert outcomes == Counter({"delivered": 1, "skipped": 7})
        assert len(sender.requests) == 1
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 200)


@pytest.fixture
def delivery(shop_a: Any, secret_a: Any, learner: User, running_session: Any, capture: Any) -> WebhookDelivery:
    """shop_a's code, redeemed: one delivery waiting for its first attempt."""
    redeem(capture, shop_code(shop_a.shop, running_session), learner, running_session)
    return WebhookDelivery.objects.get()


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def attempts_log(delivery: WebhookDelivery) -> tuple[str, int, int | None]:
    delivery.refresh_from_db()
    return delivery.status, delivery.attempts, delivery.last_response_status


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

    def test_the_admins_retry_now_names_the_staff_member_by_id(self, client, staff, sender, delivery):
        sender.answers.append(500)
        run_due_tasks()
        client.force_login(staff)
        with audited() as rows:
            client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        assert [(row.action, row.actor) for row in rows] == [(AuditEvent.Action.WEBHOOK_RETRIED, f"user:{staff.pk}")]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body, dict(self.headers)))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/hook")
        else:
            self.send_response(500 if self.path == "/broken" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("private_allowed")
class TestHttpSender:
    """The real sender, against a server on this machine's loopback."""

    def test_a_2xx_answer_is_returned_with_the_body_and_headers_sent(self, hook_server):
        status = webhooks.HttpSender(timeout=5).send(
            url=f"{hook_server}/hook", body=b'{"a":1}', headers={"Content-Type": "application/json", "X-Test": "1"}
        )
        assert status == 204
        [(path, body, headers)] = _Hook.received
        assert (path, body) == ("/hook", b'{"a":1}')
        assert (headers["Content-Type"], headers["X-Test"]) == ("application/json", "1")

    def test_an_error_answer_is_returned_not_raised(self, hook_server):
        assert webhooks.HttpSender(timeout=5).send(url=f"{hook_server}/broken", body=b"{}", headers={}) == 500

    def test_a_redirect_is_not_followed(self, hook_server):
        assert webhooks.HttpSender(timeout=5).send(url=f"{hook_server}/moved", body=b"{}", headers={}) == 302
        assert [path for path, _, _ in _Hook.received] == ["/moved"]

    def test_no_server_is_a_send_failure(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again before the request: nothing listens there
        with pytest.raises(webhooks.SendFailed) as failed:
            webhooks.HttpSender(timeout=5).send(url=f"http://127.0.0.1:{port}/hook", body=b"{}", headers={})
        assert str(failed.value) == webhooks.COULD_NOT_CONNECT

    def test_the_name_is_resolved_once_and_kept_in_the_host_header(self, hook_server, monkeypatch):
        lookups = []
        real_getaddrinfo = socket.getaddrinfo

        def counting(host: str, *args: Any, **kwargs: Any) -> Any:
            lookups.append(host)
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", counting)
        url = hook_server.replace("127.0.0.1", "localhost")
        assert webhooks.HttpSender(timeout=5).send(url=f"{url}/hook", body=b"{}", headers={}) == 204
        assert lookups == ["localhost"]  # the connection went to the checked address, not a new lookup
        [(_, _, headers)] = _Hook.received
        assert headers["Host"] == url.removeprefix("http://")


class RawServer:
    """A TCP server on the loopback that hands each connection to `handle`, in a thread of its own:
    receivers that misbehave in ways http.server cannot."""

    def __init__(self, handle: Any) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.handle, self.stop, self.requests = handle, threading.Event(), []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the test is over, or the sender hung up: either is fine
            self.handle(self, conn)

    def read_request(self, conn: socket.socket) -> tuple[dict[str, str], bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", 0)):
            body += conn.recv(65536)
        self.requests.append((headers, body))
        return headers, body

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[Any]:
    servers: list[RawServer] = []

    def start(handle: Any) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# A dripping answer ends after this many seconds, well past the deadlines below: a sender with a
# timeout per read only (no deadline for the attempt) would get the answer then, late, not hang.
DRIP_SECONDS = 10
# What a loaded machine may add to a deadline before the attempt has ended.
DEADLINE_SLACK = 3


def drips(server: RawServer, conn: socket.socket) -> None:
    """Answers a header byte a second: each read gets something, the answer ends only after DRIP_SECONDS."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    for _ in range(DRIP_SECONDS):
        if server.stop.wait(1):
            return
        conn.sendall(b"a")
    conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")


def hangs_up(server: RawServer, conn: socket.socket) -> None:
    conn.close()


def speaks_another_protocol(server: RawServer, conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


def stays_silent(server: RawServer, conn: socket.socket) -> None:
    server.read_request(conn)
    server.stop.wait(10)


@pytest.mark.usefixtures("private_allowed")
class TestOneDeadlinePerAttempt:
    def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(self, raw_server):
        server = raw_server(drips)
        started = time.monotonic()
        with pytest.raises(webhooks.SendFailed) as failed:
            webhooks.HttpSender(timeout=2).send(url=server.url, body=b"{}", headers={})
        took = time.monotonic() - started
        assert 1.9 <= took < 2 + DEADLINE_SLACK, f"the attempt took {took:.2f} s"
        assert str(failed.value) == webhooks.COULD_NOT_CONNECT
        assert len(server.requests) == 1

    @pytest.mark.django_db
    def test_a_dripping_receiver_makes_a_failed_attempt_that_is_retried(self, raw_server, delivery, shop_a, settings):
        settings.TESSERA_WEBHOOK_TIMEOUT = 2
        shop_webhook_set(shop=shop_a.shop, url=raw_server(drips).url)
        started = time.monotonic()
        assert run_due_tasks() == ["retrying"]
        assert time.monotonic() - started < 2 + DEADLINE_SLACK
        assert attempts_log(delivery) == (Status.PENDING, 1, None)
        delivery.refresh_from_db()
        assert (delivery.last_error, delivery.sending_until) == (webhooks.COULD_NOT_CONNECT, None)


@pytest.mark.usefixtures("private_allowed")
class TestTheLogRevealsNoPorts:
    @pytest.mark.parametrize("receiver", [hangs_up, speaks_another_protocol, stays_silent])
    def test_an_open_port_fails_with_the_same_words_as_a_closed_one(self, raw_server, receiver):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
        failures = []
        for url in (closed, raw_server(receiver).url):
            with pytest.raises(webhooks.SendFailed) as failed:
                webhooks.HttpSender(timeout=1).send(url=url, body=b"{}", headers={})
            failures.append(str(failed.value))
        assert failures == [webhooks.COULD_NOT_CONNECT] * 2


@pytest.fixture
def tls_hook_server(tmp_path: Any) -> Iterator[tuple[str, ssl.SSLContext, list[str]]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names only "localhost"; answers the URL,
    a client context that trusts the certificate, and the server names (SNI) clients asked for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603
        ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    asked: list[str] = []
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)

    def remember(sock: Any, name: str | None, context: ssl.SSLContext) -> None:
        asked.append(name or "")

    served.sni_callback = remember
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    _Hook.received.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", ssl.create_default_context(cafile=str(cert)), asked
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("private_allowed")
class TestHttpsToAPinnedAddress:
    def test_tls_checks_the_certificate_against_the_name_not_the_address(self, tls_hook_server):
        url, trusting, asked = tls_hook_server
        assert webhooks.HttpSender(timeout=5, tls=trusting).send(url=f"{url}/hook", body=b"{}", headers={}) == 204
        assert asked == ["localhost"]
        [(_, _, headers)] = _Hook.received
        assert headers["Host"] == url.removeprefix("https://")

    def test_a_certificate_not_trusted_is_no_answer(self, tls_hook_server):
        url, _, _ = tls_hook_server
        with pytest.raises(webhooks.SendFailed):
            webhooks.HttpSender(timeout=5).send(url=f"{url}/hook", body=b"{}", headers={})
        assert _Hook.received == []


FORBIDDEN_HOSTS = [
    "127.0.0.1", "127.8.9.10", "10.0.0.8", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0", "224.0.0.1",  # noqa: S104 - a destination refused, not an address bound "240.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]",
    "[ff02::1]", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]", "localhost",
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.usefixtures("private_refused")
class TestForbiddenDestinations:
    @pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
    def test_a_url_to_a_forbidden_address_is_refused_and_nothing_changes(self, shop_a, secret_a, host):
        with pytest.raises(WebhookUrlForbidden) as refused:
            shop_webhook_set(shop=shop_a.shop, url=f"http://{host}:8080/hook")
        assert (refused.value.code, refused.value.field) == ("webhook_url_forbidden", "webhook_url")
        shop_a.shop.refresh_from_db()
        assert (shop_a.shop.webhook_url, shop_a.shop.webhook_secret) == (URL_A, secret_a)

    @pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "https://[2606:4700:4700::1111]/hook", URL_B])
    def test_a_public_address_or_a_name_that_does_not_resolve_yet_is_accepted(self, shop_a, url):
        shop_webhook_set(shop=shop_a.shop, url=url)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == url

    def test_the_command_refuses_with_the_stable_code(self, shop_a):
        with pytest.raises(CommandError, match=r"^webhook_url_forbidden: "):
            run_command("Shop A", "http://169.254.169.254/latest/meta-data/")
        assert Shop.objects.get(name="Shop A").webhook_url == ""

    def test_the_admin_form_refuses(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/",
            {"name": "Shop A", "webhook_url": "http://[::ffff:127.0.0.1]/", **NO_TOKENS},
        )
        assert response.status_code == 200
        assert "webhooks go to public addresses only" in response.content.decode()
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == ""

    def test_allowing_private_targets_lets_loopback_and_private_through_never_link_local(self, shop_a, settings):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True
        for host in ["127.0.0.1", "10.0.0.8", "[::1]", "[fc00::1]", "localhost"]:
            shop_webhook_set(shop=shop_a.shop, url=f"http://{host}/hook")
        for host in ["169.254.169.254", "[fe80::1]", "[::ffff:169.254.169.254]", "224.0.0.1", "0.0.0.0"]:  # noqa: S104
            with pytest.raises(WebhookUrlForbidden):
                shop_webhook_set(shop=shop_a.shop, url=f"http://{host}/hook")

    def test_each_attempt_checks_again_and_sends_nothing_to_a_forbidden_address(
        self, hook_server, delivery, shop_a, settings
    ):
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True  # allowed when saved: the name pointed elsewhere then
        shop_webhook_set(shop=shop_a.shop, url=hook_server.replace("127.0.0.1", "localhost") + "/hook")
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False
        assert run_due_tasks() == ["retrying"]
        assert _Hook.received == []
        delivery.refresh_from_db()
        assert delivery.last_error == webhooks.FORBIDDEN_ADDRESS


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
        call_command(
            "db_worker", "--batch", "--queue-name", "default", "--no-startup-delay", "--no-reload", verbosity=0
        )
        took = time.monotonic() - started
        job.refresh_from_db()
        assert (job.status, job.written) == ("done", 20)
        assert took < 5, f"the batch job took {took:.2f} s"
        assert queued().count() == 301  # not one webhook task taken by the batch jobs' worker


class WorkerKilled(BaseException):
    """Stands for SIGKILL in the middle of a send: nothing after it runs, not even `except Exception`."""


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
        [(path, body, headers)] = _Hook.received
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
        requeued: list[int] = []
        start = threading.Barrier(8)

        def sweep() -> None:
            try:
                WebhookDelivery.objects.exists()  # connected before the start, so the threads overlap
                start.wait()
                requeued.append(webhook_deliveries_requeue_stuck())
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sweep) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(requeued) == [0] * 7 + [1]
        assert queued().count() == 1


@pytest.mark.django_db(transaction=True)
class TestTheTaskWorker:
    def test_sweeps_at_its_start_and_delivers_what_it_queued(self, shop_a, hook_server, private_allowed):
        shop_webhook_set(shop=shop_a.shop, url=f"{hook_server}/hook")
        delivery = webhook_event_record(shop=shop_a.shop, event_type=Event.VOIDED, data={"id": "X"})
        worker_died_holding_its_task(delivery, due=a_lease() + timedelta(seconds=1))
        call_command(
            "db_worker", "--batch", "--queue-name", "webhooks", "--no-startup-delay", "--no-reload", verbosity=0
        )
        assert attempts_log(delivery) == (Status.DELIVERED, 1, 204)
        assert len(_Hook.received) == 1


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


def wait_for(condition: Any, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)


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


@pytest.mark.django_db
class TestAdmin:
    def test_the_delivery_log_and_a_delivery_render(self, client, staff, sender, delivery):
        client.force_login(staff)
        listing = client.get("/admin/shop/webhookdelivery/?status__exact=pending")
        assert listing.status_code == 200
        assert "voucher.redeemed" in listing.content.decode()
        page = client.get(f"/admin/shop/webhookdelivery/{delivery.pk}/change/")
        assert page.status_code == 200
        assert str(delivery.event_id) in page.content.decode()

    def test_the_log_cannot_be_edited_or_deleted(self, client, staff, sender, delivery):
        client.force_login(staff)
        assert client.get("/admin/shop/webhookdelivery/add/").status_code == 403
        assert client.get(f"/admin/shop/webhookdelivery/{delivery.pk}/delete/").status_code == 403

    def test_retry_now_sends_at_once(self, client, staff, sender, delivery):
        sender.answers.append(500)
        run_due_tasks()
        client.force_login(staff)
        client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        assert run_due_tasks() == ["delivered"]
        assert attempts_log(delivery) == (Status.DELIVERED, 2, 200)

    @pytest.mark.parametrize(
        ("codenames", "outcomes"),
        [(["view_webhookdelivery"], []), (["view_webhookdelivery", "change_webhookdelivery"], ["delivered"])],
        ids=["view-only-staff-cannot", "staff-who-may-change-the-log-can"],
    )
    def test_retry_now_needs_the_change_permission_of_the_log(self, client, sender, delivery, codenames, outcomes):
        sender.answers.append(500)
        run_due_tasks()
        clerk = User.objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
        clerk.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(clerk)
        client.post("/admin/shop/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]})
        # The scheduled retry is 30 s away: only "retry now" makes a task due at once.
        assert run_due_tasks() == outcomes

    def test_staff_set_a_url_and_see_the_new_secret_once(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/", {"name": "Shop A", "webhook_url": URL_A, **NO_TOKENS},
            follow=True,
        )  # fmt: skip
        [message] = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == URL_A
        assert message.endswith(shop_a.shop.webhook_secret)
        assert client.get(f"/admin/shop/shop/{shop_a.shop.pk}/change/").status_code == 200

    def test_a_bad_url_is_a_form_error(self, client, staff, shop_a):
        client.force_login(staff)
        response = client.post(
            f"/admin/shop/shop/{shop_a.shop.pk}/change/", {"name": "Shop A", "webhook_url": "ftp://x", **NO_TOKENS}
        )
        assert response.status_code == 200
        assert "must be an http or https URL" in response.content.decode()
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_url == ""

    def test_staff_rotate_a_secret(self, client, staff, shop_a, secret_a):
        client.force_login(staff)
        response = client.post(
            "/admin/shop/shop/", {"action": "rotate_webhook_secrets", "_selected_action": [shop_a.shop.pk]}, follow=True
        )
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret != secret_a
        assert any(str(m).endswith(shop_a.shop.webhook_secret) for m in response.context["messages"])


# The token inline's management form, which every post of the shop's change form carries.
NO_TOKENS = {"tokens-TOTAL_FORMS": "0", "tokens-INITIAL_FORMS": "0", "tokens-MIN_NUM_FORMS": "0",
             "tokens-MAX_NUM_FORMS": "1000"}  # fmt: skip
