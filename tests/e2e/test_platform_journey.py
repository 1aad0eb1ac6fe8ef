"""A course platform end to end, over real HTTP on PostgreSQL: it syncs 1,000 sessions, gets codes
for three of them, and 100 of its learners redeem 300 codes through it, one session after another,
while its webhook receiver is down for the middle 100 redemptions and then comes back. Every
entitlement is applied exactly once, in sequence order, without a gap, and the feed read from
cursor 0 tells the same events in the same order.

Tessera answers from pytest-django's live server (a real HTTP server on a free port of 127.0.0.1,
in this process, on the test database); a real `tessera db_worker --queue-name webhooks` delivers
the webhooks from the same database; the receiver is examples/platform_receiver.py, a process of
its own, stopped and started again on the same port with the same SQLite file. Everything on the
platform's side goes through the platform API as the guide says: an access token, the catalog
import, offers and batches, the batches' codes, the redemptions and the feed.

PostgreSQL only (the `postgresql` marker): the SQLite pass leaves it out, and on the PostgreSQL
pass a server that cannot be reached fails the run under CI=true (tests/conftest.py).
"""

import base64
import json
import os
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tessera.platforms.delivery import platform_webhook_set
from tessera.platforms.models import Platform
from tessera.platforms.services import Credentials, platform_create
from tests.loopback import free_port, wait_for

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "platform_receiver.py"
COURSES, SESSIONS, LEARNERS = 10, 1000, 100
PHASES = ("s-0001", "s-0500", "s-1000")  # the sessions redeemed on: receiver up, down, up again
EVENTS_PER_REDEMPTION = 2  # code.redeemed, entitlement.granted
# The worker retries after 1 s and 5 s, then 30 s: the last phase's events may wait for that one.
DELIVERED_WITHIN = 90


# --- HTTP, as a platform's server calls Tessera -----------------------------------------------------


def http(method: str, url: str, *, headers: dict[str, str], body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - our own server
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


@dataclass
class PlatformServer:
    """The platform's server: an access token by client credentials, then the platform API."""

    base: str
    token: str

    @classmethod
    def signed_in(cls, base: str, credentials: Credentials) -> "PlatformServer":
        form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
        pair = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {pair}", "Content-Type": "application/x-www-form-urlencoded"}
        status, answer = http("POST", f"{base}/oauth/token", headers=headers, body=form)
        assert status == 200, answer
        return cls(base=base, token=answer["access_token"])

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        body = None if payload is None else json.dumps(payload).encode()
        return http(method, f"{self.base}/api/v1/platform{path}", headers=headers, body=body)

    def redeem(self, learner: str, code: str, session: str) -> int:
        status, answer = self.call("POST", "/redemptions", {"learner": learner, "code": code, "session": session,
                                                            "client_ip": "203.0.113.7"})  # fmt: skip
        assert status == 201, answer
        return status

    def feed(self) -> list[dict[str, Any]]:
        """Every event, page by page from cursor 0, as a platform catching up reads them."""
        events, cursor = [], "0"
        while True:
            status, page = self.call("GET", f"/events?after={cursor}&limit=100")
            assert status == 200, page
            if not page["events"]:
                return events
            events.extend(page["events"])
            cursor = page["next"]


# --- the platform's catalog and codes, through the platform API -------------------------------------


def catalog_synced(server: PlatformServer) -> None:
    """The platform's 10 courses and 1,000 sessions in one import, all running."""
    now = timezone.now()
    running = {"starts_at": (now - timedelta(weeks=1)).isoformat(), "ends_at": (now + timedelta(weeks=7)).isoformat()}
    catalog = {
        "courses": [{"external_id": f"c-{n:02d}", "title": f"Course {n}"} for n in range(COURSES)],
        "sessions": [{"external_id": f"s-{n:04d}", "course": f"c-{n % COURSES:02d}", **running}
                     for n in range(1, SESSIONS + 1)],
    }  # fmt: skip
    status, counts = server.call("POST", "/catalog:import", catalog)
    assert (status, counts["courses"]["created"], counts["sessions"]["created"]) == (200, COURSES, SESSIONS), counts


def codes_for(server: PlatformServer, session: str, count: int) -> list[str]:
    """An enrollment offer for one of the platform's sessions, a batch of single-use codes, and
    the codes as the batch's pages list them."""
    status, offer = server.call("POST", "/offers", {"name": f"Enrollment {session}", "product": "enrollment",
                                                    "session": session})  # fmt: skip
    assert status == 201, offer
    status, batch = server.call("POST", f"/offers/{offer['id']}/batches", {"count": count, "country": "DE"})
    assert status == 201, batch
    status, page = server.call("GET", f"/batches/{batch['id']}/codes?page_size={count}")
    assert (status, len(page["items"])) == (200, count), page
    return [row["code"] for row in page["items"]]


# --- the processes: the receiver and the task worker ----------------------------------------------


class ReceiverProcess:
    """examples/platform_receiver.py, started as its docstring says, on a fixed port; its SQLite
    file (the LMS it applies the events to) outlives each of its processes."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.db, self.log = free_port(), tmp_path / "lms.sqlite3", tmp_path / "receiver.log"
        self.secret = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tessera/events"

    def start(self) -> None:
        argv = [sys.executable, str(EXAMPLE), "--db", str(self.db), "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command
                argv, cwd=REPO, env={**os.environ, "WEBHOOK_SECRET": self.secret}, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(self._listening, 30, "the receiver to listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def _listening(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def applied(self) -> list[tuple[str, int, str]]:
        """(event id, seq, type) of each event applied, in the order it was applied."""
        with sqlite3.connect(self.db) as lms:
            return lms.execute("SELECT id, seq, type FROM events ORDER BY rowid").fetchall()

    def enrolled(self) -> set[tuple[str, str]]:
        with sqlite3.connect(self.db) as lms:
            return set(lms.execute("SELECT learner, session FROM enrollments WHERE active = 1").fetchall())


@pytest.fixture
def platform(settings: Any, tmp_path: Path) -> Iterator[tuple[Credentials, ReceiverProcess]]:
    """A platform as its operator registers it (tessera create-platform, set-platform-webhook),
    its webhooks going to its receiver, which is up."""
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on this machine's loopback
    credentials = platform_create(name="Moodle E2E", slug="moodle-e2e", return_urls=["https://lms.example/"])
    receiver = ReceiverProcess(tmp_path)
    receiver.secret = platform_webhook_set(platform=credentials.platform, url=receiver.url) or ""
    receiver.start()
    yield credentials, receiver
    receiver.stop()


def database_url() -> str:
    db = connection.settings_dict
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{urllib.parse.quote(db['USER'])}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def webhooks_worker(transactional_db: None, tmp_path: Path) -> Iterator[Path]:
    """`tessera db_worker --queue-name webhooks` on the test database, as `tessera run` starts it
    (polling every 0.2 s rather than every second); answers its log."""
    hidden = {"DATABASE_URL", "REDIS_URL", "TESSERA_SQLITE_PATH"}
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    env.update(DATABASE_URL=database_url(), TESSERA_VAR_DIR=str(tmp_path), TESSERA_WEBHOOK_ALLOW_PRIVATE="on")
    argv = [sys.executable, "-m", "tessera.cli", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2",
            "--queue-name", "webhooks"]  # fmt: skip
    log = tmp_path / "worker.log"
    with log.open("ab") as output:
        worker = subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    yield log
    worker.terminate()
    worker.wait(timeout=30)


# --- the journey -----------------------------------------------------------------------------------


def redeem_on(server: PlatformServer, session: str, codes: list[str]) -> None:
    """Learner n redeems code n of the session, eight learners at a time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(server.redeem, [f"u-{n:03d}" for n in range(LEARNERS)], codes, [session] * LEARNERS))
    assert answers == [201] * LEARNERS


def cursor(credentials: Credentials) -> tuple[int, int, int]:
    row = Platform.objects.get(pk=credentials.platform.pk)
    return row.last_event_seq, row.delivered_seq, row.attempts


def test_every_entitlement_is_applied_once_in_order_through_the_receiver_going_down_and_coming_back(
    live_server: Any, platform: tuple[Credentials, ReceiverProcess], webhooks_worker: Path
) -> None:
    credentials, receiver = platform
    server = PlatformServer.signed_in(live_server.url, credentials)
    catalog_synced(server)
    codes = {session: codes_for(server, session, LEARNERS) for session in PHASES}
    per_phase = LEARNERS * EVENTS_PER_REDEMPTION
    up, down, back = PHASES

    redeem_on(server, up, codes[up])
    wait_for(lambda: cursor(credentials)[:2] == (per_phase, per_phase), 60, "the first 200 events to be delivered")
    receiver.stop()
    redeem_on(server, down, codes[down])
    # The worker has tried the next event and found nobody there.
    wait_for(lambda: cursor(credentials)[2] >= 1, 30, "a failed delivery attempt while the receiver is down")
    assert cursor(credentials)[:2] == (2 * per_phase, per_phase), webhooks_worker.read_text()
    assert [seq for _, seq, _ in receiver.applied()] == list(range(1, per_phase + 1))
    receiver.start()
    redeem_on(server, back, codes[back])
    total = 3 * per_phase
    wait_for(lambda: cursor(credentials)[:2] == (total, total), DELIVERED_WITHIN, "every event to be delivered")

    applied = receiver.applied()
    assert [seq for _, seq, _ in applied] == list(range(1, total + 1))  # in order, no gap, none twice
    assert len({event_id for event_id, _, _ in applied}) == total
    granted = [seq for _, seq, kind in applied if kind == "entitlement.granted"]
    assert len(granted) == 3 * LEARNERS
    learners = {f"u-{n:03d}" for n in range(LEARNERS)}
    assert receiver.enrolled() == {(learner, session) for learner in learners for session in PHASES}
    assert [(event["id"], event["seq"], event["type"]) for event in server.feed()] == applied
