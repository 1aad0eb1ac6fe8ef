"""examples/platform_receiver.py, run as a course platform would run it: a process of its own on
127.0.0.1, with its own SQLite "LMS", that platform A's webhooks go to. Learners redeem codes
through the platform API, the delivery sends the events, and the receiver's database shows each
entitlement applied once, in order; a repeat, a forged request and an event out of order change
nothing there. Everything on Tessera's side goes as the guide (docs/platforms-guide.md) says: the
catalog, offers, batches and redemptions through the platform API."""

import http.client
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tessera.core import webhooks
from tessera.platforms.delivery import platform_events_deliver, platform_webhook_set
from tessera.platforms.events import reactivations_expire
from tessera.platforms.feed import event_body
from tessera.platforms.models import Platform, PlatformEvent
from tessera.vouchers.models import Product, Redemption
from tessera.vouchers.services import redemption_reverse
from tests.loopback import free_port, wait_for

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform_receiver.py"
OTHER_SECRET = webhooks.new_secret()


@dataclass(frozen=True)
class Lms:
    """The receiver's process and what it wrote to its SQLite file."""

    port: int
    secret: str
    database: Path

    def enrollments(self) -> dict[tuple[str, str], tuple[int, int, str | None]]:
        """(learner, session) -> (active, proctored, reactivated_until)."""
        rows = self._read("SELECT learner, session, active, proctored, reactivated_until FROM enrollments")
        return {(learner, session): tuple(rest) for learner, session, *rest in rows}

    def events(self) -> list[tuple[str, int, str]]:
        return self._read("SELECT id, seq, type FROM events ORDER BY seq")

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        """A request of our own, beside the delivery's."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", "/tessera/events", body, headers)
            return connection.getresponse().status
        finally:
            connection.close()

    def _read(self, query: str) -> list[Any]:
        with sqlite3.connect(self.database) as database:
            return database.execute(query).fetchall()


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def lms(platform_a: Any, settings: Any, tmp_path: Path) -> Iterator[Lms]:
    """The receiver, started as its module's docstring says, and platform A's webhooks going to it."""
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    settings.TESSERA_WEBHOOK_TIMEOUT = 5
    port = free_port()
    secret = platform_webhook_set(platform=platform_a.platform, url=f"http://127.0.0.1:{port}/tessera/events")
    assert secret is not None
    database, log = tmp_path / "lms.sqlite3", tmp_path / "receiver.log"
    argv = [sys.executable, str(EXAMPLE), "--db", str(database), "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own example, our own arguments
            argv, env={**os.environ, "WEBHOOK_SECRET": secret}, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: process.poll() is not None or listening(port), 20, "the receiver to listen")
        assert process.poll() is None, log.read_text()
        yield Lms(port=port, secret=secret, database=database)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def platform_api(client: Any, platform_a: Any, token_for: Any, as_platform: Any) -> Any:
    """platform_api(method, path, body=None) -> the JSON answer of /api/v1/platform<path>, called
    as platform A's server calls it, with an access token of every scope; asserts a 2xx."""
    headers = as_platform(token_for(platform_a))

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        send = getattr(client, method.lower())
        data = {"data": body, "content_type": "application/json"} if body is not None else {}
        response = send(f"/api/v1/platform{path}", **data, **headers)
        assert 200 <= response.status_code < 300, response.content
        return response.json()

    return call


@pytest.fixture
def codes(platform_api: Any) -> Any:
    """Platform A's catalog, synced as the guide says: course py101 with its running session s-1
    (proctoring offered) and its ended session s-0 (reactivation offered). codes(product) -> a new
    code of that product for s-1 (s-0 for a reactivation), through an offer and a batch of its own."""
    now = timezone.now()
    platform_api("PUT", "/courses/py101", {"title": "Python"})
    running = {"starts_at": now - timedelta(weeks=1), "ends_at": now + timedelta(weeks=7)}
    ended = {"starts_at": now - timedelta(weeks=20), "ends_at": now - timedelta(weeks=8)}
    platform_api("PUT", "/courses/py101/sessions/s-1", {**running, "offers_proctored_certificate": True})
    platform_api("PUT", "/courses/py101/sessions/s-0", {**ended, "reactivation_enabled": True})

    def new_code(product: str) -> str:
        session = "s-0" if product == Product.REACTIVATION else "s-1"
        offer = platform_api("POST", "/offers", {"name": f"{product} offer", "product": product, "session": session})
        batch = platform_api("POST", f"/offers/{offer['id']}/batches", {"count": 1, "country": "DE"})
        code: str = platform_api("GET", f"/batches/{batch['id']}/codes")["items"][0]["code"]
        return code

    return new_code


@pytest.fixture
def redeem(platform_api: Any) -> Any:
    """redeem(learner, code, session, product=None) -> the redemption's id, through the platform API."""

    def call(learner: str, code: str, session: str, product: str | None = None) -> int:
        body = {"learner": learner, "code": code, "session": session, **({"product": product} if product else {})}
        redemption_id: int = platform_api("POST", "/redemptions", body)["id"]
        return redemption_id

    return call


def deliver(credentials: Any) -> str:
    """What the task worker's delivery run does for the platform."""
    return platform_events_deliver(platform_id=credentials.platform.pk)


def tessera_events(credentials: Any) -> list[PlatformEvent]:
    return list(PlatformEvent.objects.filter(platform=credentials.platform).order_by("seq"))


def signed(event: PlatformEvent, secret: str) -> tuple[bytes, dict[str, str]]:
    """The event's body and headers as Tessera signs them with `secret`."""
    body = event_body(event)
    return body, webhooks.request_headers(secret=secret, body=body, event_id=str(event.id), sent_at=timezone.now())


def as_applied(events: list[PlatformEvent]) -> list[tuple[str, int, str]]:
    return [(str(event.id), event.seq, event.type) for event in events]


class TestEntitlements:
    def test_each_is_applied_once_in_order(self, platform_a, lms, redeem, codes):
        redeem("u-1", codes(Product.ENROLLMENT), "s-1")
        redeem("u-1", codes(Product.PROCTORING), "s-1", "proctoring")
        enrolled = redeem("u-2", codes(Product.ENROLLMENT), "s-1")
        redeem("u-3", codes(Product.REACTIVATION), "s-0", "reactivation")
        assert deliver(platform_a) == "delivered 8"  # code.redeemed and entitlement.granted each
        granted = tessera_events(platform_a)[-1].data["effect"]["reactivated_until"]
        assert lms.enrollments() == {
            ("u-1", "s-1"): (1, 1, None), ("u-2", "s-1"): (1, 0, None), ("u-3", "s-0"): (0, 0, granted),
        }  # fmt: skip
        redemption_reverse(redemption=Redemption.objects.get(pk=enrolled), actor="user:1")
        assert reactivations_expire(now=timezone.now() + timedelta(weeks=100)) == 1
        assert deliver(platform_a) == "delivered 2"
        assert lms.enrollments() == {
            ("u-1", "s-1"): (1, 1, None), ("u-2", "s-1"): (0, 0, None), ("u-3", "s-0"): (0, 0, None),
        }  # fmt: skip
        assert lms.events() == as_applied(tessera_events(platform_a))
        assert [kind for _, _, kind in lms.events()][-2:] == ["entitlement.revoked", "entitlement.expired"]


class TestRepeats:
    def test_events_sent_again_by_tessera_are_taken_and_not_applied_again(self, platform_a, lms, redeem, codes):
        enrolled = redeem("u-1", codes(Product.ENROLLMENT), "s-1")
        redemption_reverse(redemption=Redemption.objects.get(pk=enrolled), actor="user:1")
        assert deliver(platform_a) == "delivered 3"
        # As after a worker died between the receiver's answers and recording them: all sent again.
        Platform.objects.filter(pk=platform_a.platform.pk).update(delivered_seq=0)
        assert deliver(platform_a) == "delivered 3"  # each repeat answered with a 2xx
        assert lms.enrollments() == {("u-1", "s-1"): (0, 0, None)}  # not enrolled again by the repeated grant
        assert lms.events() == as_applied(tessera_events(platform_a))

    def test_a_grant_replayed_after_its_revocation_changes_nothing(self, platform_a, lms, redeem, codes):
        enrolled = redeem("u-1", codes(Product.ENROLLMENT), "s-1")
        redemption_reverse(redemption=Redemption.objects.get(pk=enrolled), actor="user:1")
        deliver(platform_a)
        grant = tessera_events(platform_a)[1]
        assert grant.type == PlatformEvent.Type.ENTITLEMENT_GRANTED
        assert lms.post(*signed(grant, lms.secret)) == 200
        assert lms.enrollments() == {("u-1", "s-1"): (0, 0, None)}
        assert len(lms.events()) == 3


class TestForgeries:
    def test_a_request_whose_signature_does_not_verify_is_refused_and_applies_nothing(
        self, platform_a, lms, redeem, codes
    ):
        redeem("u-1", codes(Product.ENROLLMENT), "s-1")
        redeemed, grant = tessera_events(platform_a)
        body, headers = signed(grant, lms.secret)
        forged_body = body.replace(b'"u-1"', b'"mallory"')
        unsigned = {name: value for name, value in headers.items() if name != "webhook-signature"}
        assert forged_body != body
        assert lms.post(*signed(redeemed, OTHER_SECRET)) == 401  # another secret
        assert lms.post(forged_body, headers) == 401  # a body changed after signing
        assert lms.post(body, unsigned) == 401
        assert (lms.enrollments(), lms.events()) == ({}, [])
        assert deliver(platform_a) == "delivered 2"  # the real ones, unhindered
        assert lms.enrollments() == {("u-1", "s-1"): (1, 0, None)}


class TestOrder:
    def test_an_event_after_a_gap_is_refused_until_the_ones_before_it_are_applied(self, platform_a, lms, redeem, codes):
        redeem("u-1", codes(Product.ENROLLMENT), "s-1")
        assert deliver(platform_a) == "delivered 2"
        redeem("u-2", codes(Product.ENROLLMENT), "s-1")
        fourth = tessera_events(platform_a)[3]
        assert lms.post(*signed(fourth, lms.secret)) == 409  # event 3 has not come yet
        assert ("u-2", "s-1") not in lms.enrollments()
        assert [seq for _, seq, _ in lms.events()] == [1, 2]
        assert deliver(platform_a) == "delivered 2"
        assert lms.enrollments()[("u-2", "s-1")] == (1, 0, None)
        assert lms.events() == as_applied(tessera_events(platform_a))
