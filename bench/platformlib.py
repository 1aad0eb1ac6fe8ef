"""What bench_platforms.py's parts share: seeding a platform's sessions, learners and codes; the
processes beside the server (the webhooks worker, started as `tessera run` starts it, and the
receiver, bench/webhook_sink.py); a platform's access token; the outbox's check; and what the
receiver noted."""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import bench_http
import benchlib

# In a request file, where the access token fetched just before the run goes (tokens live ten minutes).
TOKEN_MARK = "PLATFORM-ACCESS-TOKEN"  # noqa: S105 (a placeholder)
CLIENT_IP = "203.0.113.7"
WORKER_ARGV = [sys.executable, "-m", "tessera.cli", "db_worker", "--no-reload", "--queue-name", "webhooks"]


# --- seeding -----------------------------------------------------------------------------------


def hooked(credentials: Any, url: str) -> str:
    from tessera.platforms.delivery import platform_webhook_set

    return platform_webhook_set(platform=credentials.platform, url=url, actor="bench") or ""


def learners(platform: Any, external_ids: list[str], *, existing: bool) -> None:
    """The platform's learners, as its first calls would have made them: the bench's users with
    API tokens (`existing`), or new users named as Tessera names them."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    from tessera.platforms.learners import learner_username
    from tessera.platforms.models import PlatformLearner

    if existing:
        by_name = dict(User.objects.filter(username__startswith="learner").values_list("username", "pk"))
        user_ids = [by_name[external_id] for external_id in external_ids]
    else:
        made = User.objects.bulk_create(
            User(username=learner_username(platform, external_id), password=make_password(None))
            for external_id in external_ids
        )
        user_ids = [user.pk for user in made]
    PlatformLearner.objects.bulk_create(
        PlatformLearner(platform=platform, external_id=external_id, user_id=user_id)
        for external_id, user_id in zip(external_ids, user_ids, strict=True)
    )


def platform_session(platform: Any, name: str) -> Any:
    """A session of the platform's course, mapped as its catalog would map it, shaped as
    benchlib.running_session shapes the Tessera ones (running, open, unlimited)."""
    from django.utils import timezone

    from tessera.catalog.models import Course, CourseSession
    from tessera.platforms.models import PlatformCourse, PlatformSession

    course = PlatformCourse.objects.filter(platform=platform).first()
    if course is None:
        tessera_course = Course.objects.create(slug=f"{platform.slug}-course", title=f"{platform.name}'s course")
        course = PlatformCourse.objects.create(platform=platform, external_id="c-1", course=tessera_course)
    now = timezone.now()
    session = CourseSession.objects.create(
        course=course.course, slug=f"{platform.slug}-{name}", state=CourseSession.State.ACTIVE, capacity=None,
        starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7),
        reactivation_enabled=False, offers_proctored_certificate=False, source=CourseSession.Source.PLATFORM,
    )  # fmt: skip
    return PlatformSession.objects.create(platform=platform, external_id=f"s-{name}", course=course, session=session)


def codes(session: Any, count: int) -> list[str]:
    from tessera.vouchers.selectors.codes import display_code
    from tessera.vouchers.services import BatchSpec, batch_create

    offer = benchlib.enrollment_offer(session)
    batch = batch_create(offer=offer, spec=BatchSpec(count=count, uses_per_code=1, country="DE"), actor="bench")
    codes = [display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)]
    random.shuffle(codes)  # stored sorted; sent in random order
    return codes


def platform_api_line(learner: str, code: str, session: str) -> tuple[str, str, str, str]:
    body = json.dumps({"learner": learner, "code": code, "session": session, "client_ip": CLIENT_IP})
    return ("POST", "/api/v1/platform/redemptions", TOKEN_MARK, body)


def with_token(path: Path | None, token: str) -> Path:
    assert path is not None
    live = path.with_name(path.stem + ".live.tsv")
    live.write_text(path.read_text().replace(TOKEN_MARK, token))
    return live


# --- the processes beside the server --------------------------------------------------------------


@contextmanager
def webhooks_worker(work: Path) -> Iterator[int]:
    """The webhooks queue's task worker, started as `tessera run` starts it."""
    env = {**os.environ, "TESSERA_VAR_DIR": str(work / "var"), "TESSERA_SECRET_KEY": secrets.token_hex(16),
           "TESSERA_LOG_LEVEL": "WARNING"}  # fmt: skip
    with (work / "worker.log").open("ab") as log:
        worker = subprocess.Popen(WORKER_ARGV, cwd=benchlib.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                  start_new_session=True)  # fmt: skip
    try:
        yield worker.pid
    finally:
        bench_http._stop(worker)


@contextmanager
def sink(port: int, received: Path, secrets_by_path: dict[str, str]) -> Iterator[int]:
    env = {**os.environ, "WEBHOOK_SECRETS": " ".join(f"{path}={secret}" for path, secret in secrets_by_path.items())}
    argv = [sys.executable, str(benchlib.REPO / "bench" / "webhook_sink.py"), str(port), str(received)]
    process = subprocess.Popen(argv, env=env, start_new_session=True)  # noqa: S603 (our own script)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the webhook receiver did not start")
            time.sleep(0.1)
        yield process.pid
    finally:
        bench_http._stop(process)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def access_token(base_url: str, credentials: Any, scope: str) -> str:
    """As a platform's server gets one: POST /oauth/token, client credentials."""
    basic = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode()
    request = urllib.request.Request(f"{base_url}/oauth/token", data=body, headers={"Authorization": f"Basic {basic}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own server)
        token: str = json.loads(answer.read())["access_token"]
    return token


def process_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds each of these processes has used so far (0 for one that is gone), by name."""
    ticks, used = os.sysconf("SC_CLK_TCK"), {}
    for name, pid in pids.items():
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            used[name] = 0.0
            continue
        fields = text[text.rindex(")") + 2 :].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_since(pids: dict[str, int], before: dict[str, float]) -> dict[str, float]:
    return {name: seconds - before.get(name, 0.0) for name, seconds in process_cpu(pids).items()}


def outbox_problems(platform_pk: int) -> list[str]:
    """Every event numbered once, from 1 without a gap, two for each redemption on its sessions."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0)"
            " FROM platforms_platformevent WHERE platform_id = %s",
            [platform_pk],
        )
        events, distinct, first, last = cursor.fetchone()
        cursor.execute("SELECT last_event_seq FROM platforms_platform WHERE id = %s", [platform_pk])
        (numbered,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM vouchers_redemption r JOIN platforms_platformsession ps"
            " ON ps.session_id = r.session_id WHERE ps.platform_id = %s",
            [platform_pk],
        )
        (redemptions,) = cursor.fetchone()
    problems = []
    if (events, distinct, first, last) != (numbered, numbered, 1 if numbered else 0, numbered):
        problems.append(f"events {events} ({distinct} numbers, {first}..{last}) but last_event_seq {numbered}")
    if events != 2 * redemptions:
        problems.append(f"{events} events for {redemptions} redemptions (two each expected)")
    return problems


@dataclass(frozen=True)
class Arrival:
    received: float  # unix time
    seq: int
    type: str
    occurred_at: float  # unix time
    event_id: str


def arrivals(received: Path, path: str) -> list[Arrival]:
    """What the receiver noted for one platform's path, in the order it arrived."""
    noted = []
    for line in received.read_text().splitlines():
        at, where, seq, kind, occurred_at, event_id = line.split("\t")
        if where == path:
            moment = datetime.fromisoformat(occurred_at).timestamp()
            noted.append(Arrival(float(at), int(seq), kind, moment, event_id))
    return noted


def first_deliveries(noted: list[Arrival]) -> list[Arrival]:
    """As a receiver that drops repeats by their webhook-id acts on them."""
    seen: set[str] = set()
    kept = []
    for arrival in noted:
        if arrival.event_id not in seen:
            seen.add(arrival.event_id)
            kept.append(arrival)
    return kept
