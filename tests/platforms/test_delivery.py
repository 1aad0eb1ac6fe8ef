"""Webhooks to a course platform, to a real receiver on 127.0.0.1 that checks each request as
Standard Webhooks says: every event in order, at least once, through the receiver going down and
coming back, retried with back-off for ever; and where the webhooks go (service, admin)."""

import http.server
import json
import re
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.core.destinations import WebhookUrlForbidden
from tessera.core.errors import InvalidInput
from tessera.core.webhooks import COULD_NOT_CONNECT
from tessera.platforms import delivery
from tessera.platforms.delivery import (
    RETRY_DELAYS,
    deliver_platform_events,
    platform_deliveries_restart,
    platform_events_deliver,
    platform_webhook_off,
    platform_webhook_set,
)
from tessera.platforms.feed import event_json
from tessera.platforms.models import Platform, PlatformEvent
from tessera.vouchers.models import AuditEvent, Product
from tessera.vouchers.services import voucher_redeem
from tests.concurrency import race

pytestmark = pytest.mark.django_db


class Receiver:
    """A platform's webhook endpoint: verifies each request with the platform's secret (401 when it
    does not verify), keeps what it accepted, and can answer errors, or go down (its port closed)
    and come back on the same port."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, dict[str, Any]]] = []  # (webhook-id, body), in arrival order
        self.refused = 0
        self.connections: set[tuple[str, int]] = set()
        self.answer = 204
        self.secret = ""
        self.port = 0
        self.server: socketserver.TCPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tessera/events"

    def up(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.connections.add(self.client_address)
                status = receiver.take(body, {name.lower(): value for name, value in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port, self.server = server.server_address[1], server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            standardwebhooks.Webhook(self.secret).verify(body, headers)
        except standardwebhooks.WebhookVerificationError:
            self.refused += 1
            return 401
        if 200 <= self.answer < 300:
            self.accepted.append((headers["webhook-id"], json.loads(body)))
        return self.answer

    def seqs(self) -> list[int]:
        return [body["seq"] for _, body in self.accepted]

    def once_each(self) -> list[dict[str, Any]]:
        """What a receiver that drops repeats by their id acts on, in order."""
        seen: set[str] = set()
        kept = []
        for event_id, body in self.accepted:
            if event_id not in seen:
                seen.add(event_id)
                kept.append(body)
        return kept


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True
    settings.TESSERA_WEBHOOK_TIMEOUT = 5
    started = Receiver().up()
    yield started
    started.down()


@pytest.fixture
def hooked(platform_a: Any, receiver: Receiver) -> Any:
    """Platform A with its webhooks going to the receiver, which knows the secret."""
    receiver.secret = platform_webhook_set(platform=platform_a.platform, url=receiver.url) or ""
    return platform_a


def run_due_tasks() -> list[str]:
    """What `tessera db_worker` does with each task that is due, one at a time."""
    outcomes = []
    while (row := DBTaskResult.objects.ready().first()) is not None:
        row.claim("test-worker")
        queued = row.task_result
        outcomes.append(row.task.call(*queued.args, **queued.kwargs))
        row.set_successful(outcomes[-1])
    return outcomes


def queued() -> Any:
    return DBTaskResult.objects.filter(status="READY", task_path=deliver_platform_events.module_path)


def the_retry_is_due() -> None:
    """As if the back-off had passed: the retry waiting in the platform's row, and its task."""
    past = timezone.now() - timedelta(seconds=1)
    Platform.objects.exclude(next_attempt_at=None).update(next_attempt_at=past)
    queued().update(run_after=timezone.now())


def state(credentials: Any) -> tuple[int, int, int]:
    platform = Platform.objects.get(pk=credentials.platform.pk)
    return platform.last_event_seq, platform.delivered_seq, platform.attempts


def deliver(credentials: Any) -> str:
    return platform_events_deliver(platform_id=credentials.platform.pk)


class TestDelivery:
    def test_events_arrive_in_order_signed_with_the_platforms_secret_over_one_connection(
        self, hooked, receiver, events_written
    ):
        events = events_written(hooked, 5)
        assert deliver(hooked) == "delivered 5"
        assert receiver.seqs() == [1, 2, 3, 4, 5]
        assert receiver.accepted == [(str(event.id), event_json(event)) for event in events]
        assert (receiver.refused, len(receiver.connections)) == (0, 1)
        assert state(hooked) == (5, 5, 0)
        assert deliver(hooked) == "skipped"  # nothing new
        assert len(receiver.accepted) == 5

    def test_a_redemption_queues_its_delivery_once_it_commits(
        self,
        hooked,
        receiver,
        events_session,
        events_learner,
        make_offer,
        make_code,
        django_capture_on_commit_callbacks,
    ):
        mapped = events_session(hooked)
        code = make_code(make_offer(Product.ENROLLMENT, mapped.session))
        with django_capture_on_commit_callbacks(execute=True):
            voucher_redeem(code=code, user=events_learner(hooked), session=mapped.session)
        assert queued().count() == 1
        assert run_due_tasks() == ["delivered 2"]
        assert [body["type"] for body in receiver.once_each()] == ["code.redeemed", "entitlement.granted"]

    def test_another_run_under_way_holds_the_lease_and_a_second_task_ends_at_once(
        self, hooked, receiver, events_written
    ):
        events_written(hooked, 2)
        Platform.objects.filter(pk=hooked.platform.pk).update(
            delivery_lease_until=timezone.now() + timedelta(seconds=9)
        )
        assert deliver(hooked) == "skipped"
        assert receiver.accepted == []

    def test_a_long_backlog_is_sent_by_several_tasks_in_turn(self, hooked, receiver, events_written, monkeypatch):
        monkeypatch.setattr(delivery, "RUN_MAX", 3)
        monkeypatch.setattr(delivery, "PAGE", 2)
        events_written(hooked, 7)
        assert deliver(hooked) == "delivered 3"
        assert run_due_tasks() == ["delivered 3", "delivered 1"]
        assert receiver.seqs() == list(range(1, 8))

    def test_webhooks_off_send_nothing_and_the_feed_keeps_the_events(self, hooked, receiver, events_written):
        platform_webhook_off(platform=hooked.platform)
        events_written(hooked, 2)
        assert deliver(hooked) == "skipped"
        assert (receiver.accepted, state(hooked)) == ([], (2, 0, 0))


class TestTheCursor:
    def test_it_moves_once_a_page_when_the_page_is_quick(self, hooked, receiver, events_written, monkeypatch):
        events_written(hooked, 5)
        moves: list[int] = []
        advanced = delivery._advanced
        monkeypatch.setattr(delivery, "_advanced", lambda pk, seq, lease: moves.append(seq) or advanced(pk, seq, lease))
        assert deliver(hooked) == "delivered 5"
        assert (moves, state(hooked)) == ([], (5, 5, 0))
        assert Platform.objects.get(pk=hooked.platform.pk).delivery_lease_until is None

    def test_it_moves_and_renews_the_lease_as_time_passes_within_a_page(
        self, hooked, receiver, events_written, monkeypatch
    ):
        events_written(hooked, 3)
        monkeypatch.setattr(delivery, "CURSOR_EVERY", 0.0)  # every event: as if each took a second
        leases: list[Any] = []
        advanced = delivery._advanced

        def noted(pk: int, seq: int, lease: Any) -> Any:
            leases.append((seq, Platform.objects.get(pk=pk).delivered_seq))
            return advanced(pk, seq, lease)

        monkeypatch.setattr(delivery, "_advanced", noted)
        assert deliver(hooked) == "delivered 3"
        assert leases == [(1, 0), (2, 1), (3, 2)]  # (the seq it moves past, where the cursor stood)
        assert state(hooked) == (3, 3, 0)


class TestWaking:
    """What a commit that wrote events does: queue a run, unless one is under way or a retry waits."""

    def test_an_idle_platform_gets_a_run(self, hooked, receiver, events_written):
        events_written(hooked, 1)
        queued().delete()
        delivery.delivery_wake(hooked.platform.pk)
        assert run_due_tasks() == ["delivered 1"]

    def test_a_live_lease_or_a_waiting_retry_gets_no_task(self, hooked, events_written):
        events_written(hooked, 1)
        queued().delete()
        Platform.objects.update(delivery_lease_until=timezone.now() + timedelta(seconds=9))
        delivery.delivery_wake(hooked.platform.pk)
        Platform.objects.update(delivery_lease_until=None, next_attempt_at=timezone.now() + timedelta(seconds=9))
        delivery.delivery_wake(hooked.platform.pk)
        assert queued().count() == 0

    def test_events_that_commit_while_a_run_sends_are_sent_by_that_run(
        self, hooked, receiver, events_written, monkeypatch
    ):
        events_written(hooked, 2)
        queued().delete()
        posted = delivery._post

        def another_commits_meanwhile(sender: Any, platform: Platform, event: PlatformEvent) -> str:
            answer = posted(sender, platform, event)
            if event.seq == 2:  # the page's last: the run's lease is live, so no task is queued
                events_written(hooked, 1)
                delivery.delivery_wake(platform.pk)
            return answer

        monkeypatch.setattr(delivery, "_post", another_commits_meanwhile)
        assert deliver(hooked) == "delivered 3"
        assert (receiver.seqs(), queued().count()) == ([1, 2, 3], 0)


@pytest.mark.django_db(transaction=True)
class TestConcurrently:
    def test_two_runs_at_once_send_each_event_once(self, hooked, receiver, events_written):
        events_written(hooked, 6)
        outcomes = race([lambda: deliver(hooked)] * 2, connect_first=True)
        assert outcomes == Counter({"delivered 6": 1, "skipped": 1})
        assert receiver.seqs() == [1, 2, 3, 4, 5, 6]


class TestOutages:
    def test_a_receiver_down_then_up_gets_every_event_in_order(self, hooked, receiver, events_written):
        events_written(hooked, 2)
        assert deliver(hooked) == "delivered 2"
        receiver.down()
        events_written(hooked, 3)
        assert deliver(hooked) == "retrying after 0"
        platform = Platform.objects.get(pk=hooked.platform.pk)
        assert (platform.attempts, platform.last_error, platform.delivered_seq) == (1, COULD_NOT_CONNECT, 2)
        [retry] = queued()
        assert retry.run_after == platform.next_attempt_at
        events_written(hooked, 1)
        assert deliver(hooked) == "skipped"  # the retry waits its turn, however many events come
        receiver.up()
        the_retry_is_due()
        assert run_due_tasks() == ["delivered 4"]
        assert receiver.seqs() == [1, 2, 3, 4, 5, 6]
        assert state(hooked) == (6, 6, 0)

    def test_an_error_answer_stops_the_stream_at_that_event_until_it_is_taken(self, hooked, receiver, events_written):
        events_written(hooked, 4)
        receiver.answer = 503
        assert deliver(hooked) == "retrying after 0"
        assert Platform.objects.get(pk=hooked.platform.pk).last_error == "HTTP 503 for event 1"
        receiver.answer = 204
        the_retry_is_due()
        assert run_due_tasks() == ["delivered 4"]
        assert receiver.seqs() == [1, 2, 3, 4]

    def test_the_back_off_grows_to_ten_minutes_and_never_gives_up(self, hooked, receiver, events_written):
        events_written(hooked, 1)
        receiver.down()
        waits = []
        for _ in range(len(RETRY_DELAYS) + 2):
            started = timezone.now()
            assert deliver(hooked) == "retrying after 0"
            waits.append(Platform.objects.get(pk=hooked.platform.pk).next_attempt_at - started)
            the_retry_is_due()
        expected = [*RETRY_DELAYS, RETRY_DELAYS[-1], RETRY_DELAYS[-1]]
        assert [wait.total_seconds() for wait in RETRY_DELAYS] == [1, 5, 30, 120, 600]
        assert all(want <= got < want + timedelta(seconds=5) for got, want in zip(waits, expected, strict=True))
        receiver.up()
        assert deliver(hooked) == "delivered 1"
        assert state(hooked) == (1, 1, 0)

    def test_a_run_that_dies_before_its_cursor_moves_leaves_repeats_the_receiver_drops_by_their_ids(
        self, hooked, receiver, events_written, monkeypatch
    ):
        events_written(hooked, 3)

        class WorkerKilled(BaseException):
            """SIGKILL after the receiver took the page, before the cursor moved: nothing after runs."""

        def killed(*args: Any) -> None:
            raise WorkerKilled()

        with monkeypatch.context() as patch:
            patch.setattr(delivery, "_finished", killed)
            with pytest.raises(WorkerKilled):
                deliver(hooked)
        assert (receiver.seqs(), state(hooked)) == ([1, 2, 3], (3, 0, 0))
        assert platform_deliveries_restart() == 0  # its lease still runs: the run may yet go on
        Platform.objects.update(delivery_lease_until=timezone.now() - timedelta(seconds=1))
        assert platform_deliveries_restart() == 1
        assert run_due_tasks() == ["delivered 3"]
        assert receiver.seqs() == [1, 2, 3, 1, 2, 3]
        assert [body["seq"] for body in receiver.once_each()] == [1, 2, 3]

    def test_a_failure_after_some_events_keeps_them_delivered_and_counts_a_first_attempt(
        self, hooked, receiver, events_written
    ):
        events_written(hooked, 4)
        Platform.objects.update(attempts=3)  # failures before this run
        took = receiver.take

        def fails_from_the_third(body: bytes, headers: dict[str, str]) -> int:
            answer = took(body, headers)
            receiver.answer = 503 if len(receiver.accepted) >= 2 else receiver.answer
            return answer

        receiver.take = fails_from_the_third  # type: ignore[method-assign]
        assert deliver(hooked) == "retrying after 2"
        platform = Platform.objects.get(pk=hooked.platform.pk)
        assert (platform.delivered_seq, platform.attempts, platform.last_error) == (2, 1, "HTTP 503 for event 3")
        assert platform.next_attempt_at - timezone.now() <= RETRY_DELAYS[0]

    def test_a_replay_of_the_feed_from_the_start_is_what_the_webhooks_delivered(
        self, hooked, receiver, events_written, client, token_for, as_platform
    ):
        events_written(hooked, 3)
        receiver.down()
        deliver(hooked)
        receiver.up()
        events_written(hooked, 2)
        the_retry_is_due()
        run_due_tasks()
        feed = client.get("/api/v1/platform/events", {"after": "0"}, **as_platform(token_for(hooked, "events")))
        assert feed.json()["events"] == receiver.once_each()
        assert [event["seq"] for event in feed.json()["events"]] == [1, 2, 3, 4, 5]

    def test_two_platforms_each_get_their_own_events_only(self, hooked, receiver, platform_b, events_written, settings):
        other = Receiver().up()
        try:
            other.secret = platform_webhook_set(platform=platform_b.platform, url=other.url) or ""
            events_written(hooked, 2)
            events_written(platform_b, 3)
            assert (deliver(hooked), deliver(platform_b)) == ("delivered 2", "delivered 3")
        finally:
            other.down()
        assert receiver.accepted == [
            (str(e.id), event_json(e)) for e in PlatformEvent.objects.filter(platform=hooked.platform)
        ]
        assert other.seqs() == [1, 2, 3]
        assert receiver.refused == other.refused == 0


class TestTheSweep:
    def test_a_platform_behind_with_nothing_under_way_gets_a_task_once(self, hooked, receiver, events_written):
        events_written(hooked, 2)
        queued().delete()  # the task after the commit was lost
        assert platform_deliveries_restart() == 1
        assert run_due_tasks() == ["delivered 2"]
        assert platform_deliveries_restart() == 0  # caught up

    def test_a_waiting_retry_or_a_live_lease_is_left_alone(self, hooked, receiver, events_written):
        events_written(hooked, 1)
        receiver.down()
        deliver(hooked)
        assert platform_deliveries_restart() == 0  # the retry is due in a second: its task will run
        Platform.objects.update(next_attempt_at=None, delivery_lease_until=timezone.now() + timedelta(seconds=9))
        assert platform_deliveries_restart() == 0

    def test_a_retry_long_overdue_is_queued_again(self, hooked, receiver, events_written, settings):
        events_written(hooked, 1)
        receiver.down()
        deliver(hooked)
        queued().delete()  # its task was lost
        overdue = timezone.now() - timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE + 1)
        Platform.objects.update(next_attempt_at=overdue)
        assert platform_deliveries_restart() == 1

    def test_a_queue_nobody_empties_gets_no_more_copies(self, hooked, events_written, settings):
        events_written(hooked, 1)
        delivery.delivery_queue(hooked.platform.pk)  # queued when the event committed, and never run
        long_ago = timezone.now() - timedelta(seconds=settings.TESSERA_WEBHOOK_LEASE + 1)
        queued().update(enqueued_at=long_ago)
        assert platform_deliveries_restart() == 0
        assert queued().count() == 1


SECRET = r"whsec_[A-Za-z0-9+/]{43}="


def audit_rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


class TestWhereTheWebhooksGo:
    def test_the_first_url_brings_a_secret_and_starts_after_the_newest_event(self, platform_a, events_written):
        events_written(platform_a, 3)
        secret = platform_webhook_set(
            platform=platform_a.platform, url="https://lms-a.example/hooks?key=k1", actor="cli"
        )
        assert secret is not None
        assert re.fullmatch(SECRET, secret)
        platform = Platform.objects.get(pk=platform_a.platform.pk)
        assert (platform.webhook_url, platform.webhook_secret, platform.delivered_seq) == (
            "https://lms-a.example/hooks?key=k1", secret, 3,
        )  # fmt: skip
        [row] = audit_rows(AuditEvent.Action.WEBHOOK_SET)
        assert (row.actor, row.detail) == ("cli", {
            "platform_id": platform.pk, "destination": "https://lms-a.example", "new_secret": True,
        })  # fmt: skip

    def test_a_new_url_keeps_the_secret_and_the_cursor_and_is_tried_at_once(self, hooked, receiver, events_written):
        events_written(hooked, 2)
        receiver.down()
        deliver(hooked)
        receiver.up()
        moved = receiver.url.replace("/tessera/events", "/v2/events")
        assert platform_webhook_set(platform=hooked.platform, url=moved) is None
        platform = Platform.objects.get(pk=hooked.platform.pk)
        assert (platform.webhook_secret, platform.delivered_seq, platform.attempts, platform.next_attempt_at) == (
            receiver.secret, 0, 0, None,
        )  # fmt: skip
        assert deliver(hooked) == "delivered 2"

    def test_rotating_makes_a_new_secret_that_signs_from_then_on(self, hooked, receiver, events_written):
        fresh = platform_webhook_set(platform=hooked.platform, rotate_secret=True, actor="user:3")
        assert fresh not in (None, receiver.secret)
        events_written(hooked, 1)
        assert deliver(hooked) == "retrying after 0"  # the receiver still checks with the old one
        assert receiver.refused == 1
        receiver.secret = fresh or ""
        the_retry_is_due()
        assert deliver(hooked) == "delivered 1"
        [row] = audit_rows(AuditEvent.Action.SECRET_ROTATED)
        assert (row.actor, row.detail) == ("user:3", {"platform_id": hooked.platform.pk})
        assert fresh not in json.dumps(row.detail)

    def test_turning_webhooks_off_keeps_the_secret_and_turning_them_on_again_starts_anew(
        self, hooked, receiver, events_written
    ):
        platform_webhook_off(platform=hooked.platform, actor="cli")
        events_written(hooked, 2)
        assert platform_webhook_set(platform=hooked.platform, url=receiver.url) is None
        assert state(hooked) == (2, 2, 0)  # the two written while off are in the feed, not sent
        events_written(hooked, 1)
        assert deliver(hooked) == "delivered 1"
        assert receiver.seqs() == [3]
        assert [row.detail for row in audit_rows(AuditEvent.Action.WEBHOOK_OFF)] == [
            {"platform_id": hooked.platform.pk}
        ]

    @pytest.mark.parametrize(
        ("url", "refusal"),
        [("http://169.254.169.254/latest/meta-data/", WebhookUrlForbidden), ("ftp://lms.example/", InvalidInput),
         ("https://lms.example/" + "x" * 500, InvalidInput), ("lms.example/hooks", InvalidInput)],
    )  # fmt: skip
    def test_a_bad_url_is_refused_and_nothing_changes(self, hooked, receiver, url, refusal):
        with pytest.raises(refusal) as refused:
            platform_webhook_set(platform=hooked.platform, url=url)
        assert refused.value.field == "webhook_url"
        platform = Platform.objects.get(pk=hooked.platform.pk)
        assert (platform.webhook_url, platform.webhook_secret) == (receiver.url, receiver.secret)
        assert len(audit_rows(AuditEvent.Action.WEBHOOK_SET)) == 1  # the fixture's

    def test_the_admin_sets_the_url_through_the_service_and_shows_the_secret_once(self, client, staff, platform_a):
        client.force_login(staff)
        form = {"name": "Moodle A", "slug": "moodle-a", "return_urls": "https://lms-a.example/course/",
                "scope_choices": ["events"], "webhook_url": "https://lms-a.example/hooks"}  # fmt: skip
        response = client.post(f"/admin/platforms/platform/{platform_a.platform.pk}/change/", form, follow=True)
        assert response.status_code == 200
        platform = Platform.objects.get(pk=platform_a.platform.pk)
        assert platform.webhook_url == "https://lms-a.example/hooks"
        assert platform.webhook_secret in response.content.decode()
        [row] = audit_rows(AuditEvent.Action.WEBHOOK_SET)
        assert row.actor == f"user:{staff.pk}"
        form["webhook_url"] = "http://169.254.169.254/"
        refused = client.post(f"/admin/platforms/platform/{platform_a.platform.pk}/change/", form)
        assert "webhooks go to public addresses only" in refused.content.decode()
        assert Platform.objects.get(pk=platform_a.platform.pk).webhook_url == "https://lms-a.example/hooks"
