"""bench_platforms.py's `outbox-lag` part: the delivery lag at --rate redemptions/s' worth of events,
the events written by the outbox itself instead of by redemptions over HTTP.

On two cores the redemptions over HTTP do not reach the lag target's rate (section 3 of
docs/benchmarks.md), so the `lag` part cannot be run at 300/s there. This part leaves the
redemption out and keeps everything after it: each redemption's two events (code.redeemed,
entitlement.granted, with the data a redemption's carry) are written through
tessera.platforms.events in a transaction of their own, whose commit wakes the delivery as a
redemption's commit does, at --rate per second for --lag-duration seconds, from writer threads of
this process (each with its own connection). The webhooks worker delivers them to the receiver
meanwhile; an event's lag is its first arrival minus its occurred_at (its write's moment).
"""

from __future__ import annotations

import argparse
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_http
import benchlib
import platformlib
import platforms_drain
from platformlib import arrivals, first_deliveries

PATH = "/hooks/bench-outbox-lag"  # where this part's webhooks arrive at the receiver
WRITERS = 4  # threads writing events; each waits for its redemption's moment
LATE = 0.1  # seconds after its moment that a write counts as late
LAG_TARGET_MS = 2000  # p99 of the delivery lag, at the target rate
DRAIN_LIMIT = 300  # seconds after the last write that the delivery may take


@dataclass
class OutboxLagResult:
    redemptions: int
    seconds: float  # from the first write's moment to the last write's commit
    late: int
    lags_ms: list[float]  # sorted, one per event, at its first arrival
    drained_s: float | None  # after the last write, until every event was delivered
    cpu_ms: dict[str, float]  # per redemption
    repeats: int
    problems: list[str] = field(default_factory=list)

    def rate(self) -> float:
        return self.redemptions / self.seconds if self.seconds else 0.0


def measure(work: Path, args: argparse.Namespace) -> OutboxLagResult:
    work.mkdir(parents=True, exist_ok=True)
    sink_port, received = bench_http._free_port(), work / "received.tsv"
    mapped, secret = _platform(f"http://127.0.0.1:{sink_port}{PATH}")
    count = round(args.rate * args.lag_duration)
    print(f"outbox-lag: {args.rate:g} redemptions/s' events (two each) for {args.lag_duration} s, "
          f"{WRITERS} writer threads", flush=True)  # fmt: skip
    with (
        platformlib.sink(sink_port, received, {PATH: secret}) as sink_pid,
        platformlib.webhooks_worker(work) as worker_pid,
    ):
        helpers = {"worker": worker_pid, "receiver": sink_pid}
        platforms_drain._wait_until_no_task_waits()
        cpu_before, own_before = platformlib.process_cpu(helpers), _own_cpu()
        seconds, late = _write_steadily(mapped, count, args.rate)
        written = time.monotonic()
        drained = _delivered(mapped.platform_id, 2 * count)
        cpu_s = {**platformlib.cpu_since(helpers, cpu_before), "writers": _own_cpu() - own_before}
        time.sleep(0.5)  # the receiver writes each line as it answers; the last may be a moment ahead
    noted = arrivals(received, PATH)
    first = first_deliveries(noted)
    lags = sorted(1000 * (a.received - a.occurred_at) for a in first)
    result = OutboxLagResult(
        redemptions=count, seconds=seconds, late=late, lags_ms=lags,
        drained_s=None if drained is None else drained - written,
        cpu_ms={name: 1000 * s / max(count, 1) for name, s in cpu_s.items()}, repeats=len(noted) - len(first),
    )  # fmt: skip
    if drained is None:
        result.problems.append(f"events still undelivered {DRAIN_LIMIT} s after the last write")
    if [a.seq for a in first] != list(range(1, 2 * count + 1)):
        result.problems.append(f"the receiver's events are not 1..{2 * count} in order ({len(first)} received)")
    return result


def _platform(url: str) -> tuple[Any, str]:
    """A platform with its webhooks to `url` and one session; answers the session's mapping and
    the webhooks' signing secret."""
    from tessera.platforms.services import platform_create

    credentials = platform_create(name="Bench outbox lag platform", slug="bench-outbox-lag")
    secret = platformlib.hooked(credentials, url)
    return platformlib.platform_session(credentials.platform, "outbox-lag"), secret


def _write_steadily(mapped: Any, count: int, rate: float) -> tuple[float, int]:
    """Writes redemption k's events at start + k / rate (at once when late); answers the seconds
    from the start to the last commit and how many writes were late."""
    numbers = itertools.count()
    lock = threading.Lock()
    late: list[int] = []
    ends: list[float] = []
    start = time.monotonic() + 0.5

    def writer() -> None:
        from django.db import connection

        own_late = 0
        try:
            while True:
                with lock:
                    k = next(numbers)
                if k >= count:
                    break
                due = start + k / rate
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                elif -wait > LATE:
                    own_late += 1
                _write_redemption(mapped, k + 1)
            with lock:
                late.append(own_late)
                ends.append(time.monotonic())
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(ends) - start, sum(late)


def _write_redemption(mapped: Any, n: int) -> None:
    """Redemption n's two events, as tessera.platforms.events writes them, in one transaction."""
    from django.db import transaction
    from django.utils import timezone

    from tessera.platforms import events
    from tessera.platforms.feed import wire_time
    from tessera.platforms.models import PlatformEvent

    at = timezone.now()
    about = {
        "learner": f"lag{n:06d}", "user": n, "session": mapped.external_id, "course": mapped.course.external_id,
        "product": "enrollment", "code": f"BENCH-{n:06d}", "redemption": n,
    }  # fmt: skip
    written: list[tuple[str, dict[str, Any]]] = [
        (PlatformEvent.Type.CODE_REDEEMED, {**about, "redeemed_at": wire_time(at)}),
        (PlatformEvent.Type.ENTITLEMENT_GRANTED, {**about, "effect": {"enrolled": True}}),
    ]
    with transaction.atomic():
        events._write(mapped.platform_id, written, at=at)


def _delivered(platform_pk: int, events: int) -> float | None:
    from tessera.platforms.models import Platform

    deadline = time.monotonic() + DRAIN_LIMIT
    platform = Platform.objects.filter(pk=platform_pk)
    while time.monotonic() < deadline:
        if platform.values_list("delivered_seq", flat=True).get() >= events:
            return time.monotonic()
        time.sleep(0.05)
    return None


def _own_cpu() -> float:
    times = os.times()
    return float(times.user + times.system)


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def report(result: OutboxLagResult, args: argparse.Namespace) -> bool:
    """Prints the part's table; answers whether it failed."""
    lags = result.lags_ms
    check = "FAILED" if result.problems else "OK"
    rows = [[
        f"{args.rate:g}", f"{result.rate():.0f}", f"{result.redemptions:,}", f"{result.late:,}",
        *(f"{_percentile(lags, share):.0f}" for share in (0.5, 0.95, 0.99)), f"{lags[-1]:.0f}" if lags else "-",
        "-" if result.drained_s is None else f"{result.drained_s:.1f}",
        *(f"{result.cpu_ms.get(name, 0.0):.2f}" for name in ("worker", "receiver", "writers")),
        f"{result.repeats:,}", check,
    ]]  # fmt: skip
    headers = ["rate asked", "rate held", "redemptions", "late", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "drained s", "worker CPU ms", "receiver CPU ms", "writers CPU ms", "repeats", "check"]  # fmt: skip
    print("Delivery lag with the outbox written at a steady rate (two events per redemption, no redemption work):")
    print("lag = first arrival at the receiver - occurred_at; CPU per redemption; 'late': writes > 0.1 s behind")
    print(benchlib.table(headers, rows))
    for problem in result.problems:
        print(f"  FAILED: {problem}")
    p99 = _percentile(lags, 0.99)
    held = result.rate() >= 0.97 * args.rate
    verdict = "met" if held and p99 < LAG_TARGET_MS and not result.problems else "MISSED"
    print(f"target delivery lag p99 < {LAG_TARGET_MS} ms at {args.rate:g} redemptions/s (rate held: "
          f"{'yes' if held else 'no'}): {p99:.0f} ms: {verdict}")  # fmt: skip
    return bool(result.problems)
