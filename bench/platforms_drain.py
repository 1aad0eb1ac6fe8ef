"""bench_platforms.py's `drain` part: how many events a second the webhook delivery can send, apart
from how fast redemptions can be made.

The lag at a steady rate of redemptions stays bounded only if the delivery drains a platform's
events faster than they arrive; this measures that capacity on its own. A platform whose webhooks
go to the receiver (bench/webhook_sink.py) gets N events written straight into its outbox, as a
backlog: alternately code.redeemed and entitlement.granted, two per redemption, with the data the
redemption's events carry, numbered 1..N, delivered_seq 0. Then the webhooks worker is started as
`tessera run` starts it, one delivery run is queued, and the clock runs until delivered_seq is N.

While the backlog is written and the worker starts, the platform's next attempt is set an hour
ahead: the worker's sweep at its start would otherwise queue a run for a platform that is behind,
and the clock would miss its start. It is lifted once the worker has taken the tasks it found
waiting, just before the timed run is queued, so the worker's own start is not in the timing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import bench_http
import benchlib
import platformlib
from platformlib import arrivals, first_deliveries

PATH = "/hooks/bench-drain"  # where the drain platform's webhooks arrive at the receiver
EVENTS_PER_REDEMPTION = 2  # code.redeemed and entitlement.granted
DRAIN_LIMIT = 600  # seconds the delivery may take before the part gives up
WRITE_BATCH = 2000  # events per INSERT of the backlog


@dataclass
class DrainResult:
    events: int
    seconds: float | None  # from the queued run until delivered_seq reached `events`; None: never
    cpu_s: dict[str, float]  # the worker's and the receiver's CPU seconds over that time
    received: int  # events the receiver accepted, repeats included
    repeats: int  # of them, arrivals of an event already received (same webhook-id)
    problems: list[str] = field(default_factory=list)

    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def cpu_ms_per_event(self, name: str) -> float:
        return 1000 * self.cpu_s[name] / max(self.events, 1)


def measure(work: Path, args: argparse.Namespace) -> DrainResult:
    """Seeds the backlog, then starts the receiver and the webhooks worker and times the delivery."""
    work.mkdir(parents=True, exist_ok=True)
    sink_port, received = bench_http._free_port(), work / "received.tsv"
    platform_pk, secret = _backlog(args.drain_events, args.rate, f"http://127.0.0.1:{sink_port}{PATH}")
    print(f"drain: {args.drain_events:,} events written to a platform's outbox, delivered_seq 0", flush=True)
    with (
        platformlib.sink(sink_port, received, {PATH: secret}) as sink_pid,
        platformlib.webhooks_worker(work) as worker_pid,
    ):
        helpers = {"worker": worker_pid, "receiver": sink_pid}
        _wait_until_no_task_waits()
        seconds, cpu_s = _timed_delivery(platform_pk, args.drain_events, helpers)
        time.sleep(0.5)  # the receiver writes each line as it answers; the last answer may be a moment ahead
    noted = arrivals(received, PATH)
    first = first_deliveries(noted)
    result = DrainResult(args.drain_events, seconds, cpu_s, len(noted), len(noted) - len(first))
    result.problems.extend(_problems(result, [arrival.seq for arrival in first]))
    return result


# --- the backlog ---------------------------------------------------------------------------------


def _backlog(count: int, rate: float, url: str) -> tuple[int, str]:
    """A platform with its webhooks to `url` (the receiver's) and `count` undelivered events, its delivery
    held back (see the module's docstring); answers its pk and its webhooks' signing secret."""
    from django.db import connection
    from django.utils import timezone

    from tessera.platforms.models import Platform, PlatformEvent
    from tessera.platforms.services import platform_create

    credentials = platform_create(name="Bench drain platform", slug="bench-drain")
    platform = credentials.platform
    secret = platformlib.hooked(credentials, url)
    mapped = platformlib.platform_session(platform, "drain")
    started = timezone.now() - timedelta(seconds=count / EVENTS_PER_REDEMPTION / rate)
    events = (
        PlatformEvent(platform=platform, seq=seq, type=kind, occurred_at=at, data=data)
        for seq, (kind, at, data) in enumerate(_redemption_events(mapped, count, started, rate), start=1)
    )
    PlatformEvent.objects.bulk_create(events, batch_size=WRITE_BATCH)
    held = timezone.now() + timedelta(hours=1)
    Platform.objects.filter(pk=platform.pk).update(last_event_seq=count, delivered_seq=0, next_attempt_at=held)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE platforms_platformevent")
    return platform.pk, secret


def _redemption_events(mapped: Any, count: int, started: datetime, rate: float) -> Any:
    """`count` events as tessera.platforms.events writes them for enrollment codes redeemed at
    `rate` per second from `started`: code.redeemed, then entitlement.granted, per redemption."""
    from tessera.platforms.feed import wire_time
    from tessera.platforms.models import PlatformEvent
    from tessera.vouchers import codes as codebook
    from tessera.vouchers.selectors.codes import display_code

    redemptions = (count + 1) // EVENTS_PER_REDEMPTION
    for n, code in enumerate(codebook.generate(redemptions), start=1):
        at = started + timedelta(seconds=n / rate)
        about = {
            "learner": f"drain{n:06d}", "user": n, "session": mapped.external_id,
            "course": mapped.course.external_id, "product": "enrollment", "code": display_code(code),
            "redemption": n,
        }  # fmt: skip
        yield PlatformEvent.Type.CODE_REDEEMED, at, {**about, "redeemed_at": wire_time(at)}
        if EVENTS_PER_REDEMPTION * n <= count:
            yield PlatformEvent.Type.ENTITLEMENT_GRANTED, at, {**about, "effect": {"enrolled": True}}


# --- the timed delivery --------------------------------------------------------------------------


def _wait_until_no_task_waits(limit: float = 60) -> None:
    """Until the worker has taken every webhooks task queued before it started (the one of setting
    the webhook, at least): it is then up and polling its queue."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + limit
    pending = (TaskResultStatus.READY, TaskResultStatus.RUNNING)
    while DBTaskResult.objects.filter(queue_name="webhooks", status__in=pending).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the webhooks worker took no task within {limit:g} s")
        time.sleep(0.1)


def _timed_delivery(platform_pk: int, count: int, helpers: dict[str, int]) -> tuple[float | None, dict[str, float]]:
    """The hold lifted and one delivery run queued; seconds until delivered_seq reached `count`
    (None after DRAIN_LIMIT), and the helpers' CPU seconds meanwhile."""
    from tessera.platforms.delivery import delivery_queue
    from tessera.platforms.models import Platform

    platform = Platform.objects.filter(pk=platform_pk)
    platform.update(next_attempt_at=None)
    cpu_before, started = platformlib.process_cpu(helpers), time.monotonic()
    delivery_queue(platform_pk)
    seconds = None
    while time.monotonic() - started < DRAIN_LIMIT:
        if platform.values_list("delivered_seq", flat=True).get() >= count:
            seconds = time.monotonic() - started
            break
        time.sleep(0.05)
    return seconds, platformlib.cpu_since(helpers, cpu_before)


def _problems(result: DrainResult, seqs: list[int]) -> list[str]:
    problems = []
    if result.seconds is None:
        problems.append(f"events still undelivered {DRAIN_LIMIT} s after the run was queued")
    if seqs != list(range(1, result.events + 1)):
        problems.append(f"the receiver's events are not 1..{result.events} in order ({len(seqs)} received)")
    return problems


# --- the report ----------------------------------------------------------------------------------


def report(result: DrainResult, args: argparse.Namespace) -> bool:
    """Prints the drain part's table and its implied redemption rate; answers whether it failed."""
    check = "FAILED" if result.problems else "OK"
    rows = [[
        f"{result.events:,}", "-" if result.seconds is None else f"{result.seconds:.1f}", f"{result.rate():,.0f}",
        f"{result.cpu_ms_per_event('worker'):.2f}", f"{result.cpu_ms_per_event('receiver'):.2f}",
        f"{result.repeats:,}", check,
    ]]  # fmt: skip
    headers = ["events", "seconds", "events/s", "worker CPU ms/event", "receiver CPU ms/event", "repeats", "check"]
    print("Delivery capacity: a backlog of events sent by one webhooks worker to the receiver, from the queued run")
    print("until delivered_seq reached the last; CPU from /proc; 'repeats': events the receiver got more than once")
    print(benchlib.table(headers, rows))
    for problem in result.problems:
        print(f"  FAILED: {problem}")
    redemptions = result.rate() / EVENTS_PER_REDEMPTION
    verdict = "met" if redemptions > args.rate and not result.problems else "MISSED"
    print(f"target delivery faster than the lag part's {args.rate:g} redemptions/s ({EVENTS_PER_REDEMPTION} events "
          f"each): {redemptions:,.0f} redemptions/s, {redemptions / args.rate:.2f}x: {verdict}")  # fmt: skip
    return bool(result.problems)
