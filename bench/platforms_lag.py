"""platformlib.py's `lag` part: redemptions through the platform API at a fixed rate, and how
long each of their events takes to reach the platform's webhook receiver.

The lag of an event is the moment the receiver (bench/webhook_sink.py, its own process) read it
minus its occurred_at (the redemption's moment, set in the redemption's transaction, to the
millisecond): the commit, the delivery task queued after it, the webhooks worker's turn, the send.
Every event is counted once, at its first arrival.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_http
import benchlib
import platformlib
from platformlib import Arrival, arrivals, first_deliveries
from steady_load import LATE, Request, SteadyRun, steady

LAG_TARGET_MS = 2000  # p99 of the delivery lag, at the target rate
RATE_HELD = 0.97  # the achieved rate must be at least this share of the one asked for


PATH = "/hooks/bench-lag"  # where the lag platform's webhooks arrive at the receiver
ROUTES = ("learner-api", "platform-api")


@dataclass
class LagPlan:
    credentials: Any  # the platform's, webhooks on
    secret: str  # its webhooks' signing secret
    lines: list[tuple[str, str, str, str]]  # method, path, bearer token (or the mark), body


def plan(users: Any, args: argparse.Namespace, url: str) -> LagPlan:
    """A platform with its webhooks to `url`, one session, and rate x duration redemptions of its
    codes: learner i redeems code i, by the learner API (bench_http's users and their API tokens)
    or by the platform API (the platform's learners, made beforehand as their first call would)."""
    from tessera.platforms.services import platform_create

    credentials = platform_create(name="Bench lag platform", slug="bench-lag")
    secret = platformlib.hooked(credentials, url)
    session = platformlib.platform_session(credentials.platform, "lag")
    count = round(args.rate * args.lag_duration)
    codes = platformlib.codes(session.session, count)
    if args.lag_route == "platform-api":
        learners = [f"lag{n:06d}" for n in range(count)]
        platformlib.learners(credentials.platform, learners, existing=False)
        lines = [platformlib.platform_api_line(learner, code, session.external_id)
                 for learner, code in zip(learners, codes, strict=True)]  # fmt: skip
    else:
        slug = session.session.slug
        lines = [("POST", "/api/v1/redemptions", token, json.dumps({"code": code, "session": slug}))
                 for token, code in zip(users._tokens[:count], codes, strict=True)]  # fmt: skip
    return LagPlan(credentials=credentials, secret=secret, lines=lines)


@dataclass
class LagResult:
    load: SteadyRun
    arrivals: list[Arrival]
    events: int  # written during the run
    drained_s: float | None  # after the last answer, until every event was delivered
    cpu_ms: dict[str, float]  # per redemption
    others_share: float
    problems: list[str] = field(default_factory=list)

    def lags_ms(self) -> list[float]:
        return sorted(1000 * (a.received - a.occurred_at) for a in first_deliveries(self.arrivals))


def measure(
    lag_plan: LagPlan, base_url: str, server_pid: int, helpers: dict[str, int], received: Path, args: argparse.Namespace
) -> LagResult:
    from tessera.platforms.models import Platform

    platform_pk = lag_plan.credentials.platform.pk
    bench_http._wait_for_autovacuum()
    bench_http._wait_until_server_idle()
    token = platformlib.access_token(base_url, lag_plan.credentials, "redeem")
    requests = [
        Request(method, path, {"Authorization": f"Bearer {token if bearer == platformlib.TOKEN_MARK else bearer}",
                               "Content-Type": "application/json"}, body.encode())
        for method, path, bearer, body in lag_plan.lines
    ]  # fmt: skip
    route = f"POST {lag_plan.lines[0][1]}"
    print(f"lag: {args.rate:g} redemptions/s for {args.lag_duration} s, {route}, {args.lag_connections} connections",
          flush=True)  # fmt: skip
    cpu_before, helpers_before = bench_http._cpu_seconds(server_pid), platformlib.process_cpu(helpers)
    machine_before, self_before = bench_http._machine_busy(), _own_cpu()
    load = steady(base_url, requests, rate=args.rate, seconds=args.lag_duration, connections=args.lag_connections)
    answered = time.monotonic()
    drained = _delivered(platform_pk)
    drained_s = None if drained is None else drained - answered
    # CPU over the load and the delivery of its events, per redemption.
    cpu_after, helpers_used = bench_http._cpu_seconds(server_pid), platformlib.cpu_since(helpers, helpers_before)
    helpers_cpu = sum(helpers_used.values())
    machine_busy, own = bench_http._machine_busy() - machine_before, _own_cpu() - self_before
    used = {
        group: sum(s - cpu_before[group].get(pid, 0.0) for pid, s in cpu_after[group].items()) for group in cpu_after
    }
    count = max(len(load.sent), 1)
    cpu = {**{g: 1000 * s / count for g, s in (used | helpers_used).items()},
           "sender": 1000 * own / count}  # fmt: skip
    wall = (load.seconds + (drained_s or 0)) * (os.cpu_count() or 1)
    others = max(0.0, machine_busy - sum(used.values()) - helpers_cpu - own) / wall if wall else 0.0
    time.sleep(0.5)  # the receiver writes each line as it answers; the last answer may be a moment ahead
    platform = Platform.objects.get(pk=platform_pk)
    result = LagResult(load, arrivals(received, PATH), platform.last_event_seq, drained_s, cpu, others)
    result.problems.extend(_problems(result, platform))
    return result


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _delivered(platform_pk: int, limit: float = 300) -> float | None:
    from tessera.platforms.models import Platform

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        platform = Platform.objects.get(pk=platform_pk)
        if platform.delivered_seq == platform.last_event_seq:
            return time.monotonic()
        time.sleep(0.05)
    return None


def _problems(result: LagResult, platform: Any) -> list[str]:
    problems = []
    statuses = result.load.statuses()
    if set(statuses) != {201}:
        first = next(s.answer for s in result.load.sent if s.status != 201)
        problems.append(f"answers other than 201: {statuses}; first: {first[:200]!r}")
    problems.extend(platformlib.outbox_problems(platform.pk))
    if result.events != 2 * statuses.get(201, 0):
        problems.append(f"{result.events} events for {statuses.get(201, 0)} redemptions answered 201")
    if result.drained_s is None:
        problems.append("events still undelivered 300 s after the last answer")
    seqs = [arrival.seq for arrival in first_deliveries(result.arrivals)]
    if seqs != list(range(1, result.events + 1)):
        problems.append(f"the receiver's events are not 1..{result.events} in order ({len(seqs)} received)")
    return problems


TIMELINE_STEP = 5  # seconds per row of the lag's timeline


def _timeline(first: list[Arrival]) -> str:
    """The lag over the run, by when the events occurred: where it grows, and whether it comes back."""
    if not first:
        return "(no event arrived)"
    start = min(arrival.occurred_at for arrival in first)
    windows: dict[int, list[float]] = {}
    for arrival in first:
        windows.setdefault(int((arrival.occurred_at - start) // TIMELINE_STEP), []).append(
            1000 * (arrival.received - arrival.occurred_at)
        )
    rows = []
    for window, lags in sorted(windows.items()):
        lags.sort()
        rows.append([f"{window * TIMELINE_STEP}-{(window + 1) * TIMELINE_STEP}", f"{len(lags):,}",
                     *(f"{benchlib.percentile(lags, p):,.0f}" for p in (0.5, 0.99)), f"{lags[-1]:,.0f}"])  # fmt: skip
    title = f"The lag by when the events occurred, {TIMELINE_STEP} s at a time (seconds from the first event)\n"
    return title + benchlib.table(["occurred s", "events", "lag p50 ms", "lag p99 ms", "lag max ms"], rows)


def report(result: LagResult, args: argparse.Namespace) -> bool:
    """Prints the lag part's tables; answers whether it failed."""
    load, lags = result.load, result.lags_ms()
    latencies = load.latencies_ms()
    first = first_deliveries(result.arrivals)
    rows = [[
        f"{args.rate:g}", f"{load.achieved_rate():,.1f}", f"{len(load.sent):,}", load.late(), f"{result.events:,}",
        len(result.arrivals) - len(first), *(f"{benchlib.percentile(lags, p):,.0f}" for p in (0.5, 0.95, 0.99)),
        f"{lags[-1]:,.0f}" if lags else "-", "-" if result.drained_s is None else f"{result.drained_s:.1f}",
    ]]  # fmt: skip
    headers = ["asked /s", "achieved /s", "redemptions", "sent late", "events", "repeats", "lag p50 ms",
               "lag p95 ms", "lag p99 ms", "lag max ms", "drained s"]  # fmt: skip
    print("Delivery lag: receiver's arrival minus the event's occurred_at, each event once; 'sent late': requests")
    print(f"sent over {LATE * 1000:.0f} ms after their moment; 'drained s': after the last answer, until all delivered")
    print(benchlib.table(headers, rows))
    print()
    print(_timeline(first))
    print()
    print("Redemption latency at the fixed rate, from each request's moment to its answer (ms)")
    print(benchlib.table(["p50", "p95", "p99", "max"],
                         [[*(f"{benchlib.percentile(latencies, p):.1f}" for p in (0.5, 0.95, 0.99)),
                           f"{latencies[-1]:.1f}" if latencies else "-"]]))  # fmt: skip
    print()
    cpu = result.cpu_ms
    groups = ("gunicorn", "postgres", "worker", "receiver", "sender")
    print("CPU ms per redemption over the run and its delivery; 'worker': the webhooks worker; 'receiver': the sink;")
    print("'sender': this process; 'others': the share of both cores used by processes outside this run")
    print(benchlib.table([*groups, "total", "others"],
                         [[*(f"{cpu[g]:.2f}" for g in groups), f"{sum(cpu.values()):.2f}",
                           f"{100 * result.others_share:.0f}%"]]))  # fmt: skip
    print()
    for problem in result.problems:
        print(f"  FAILED: {problem}")
    held = load.achieved_rate() >= RATE_HELD * args.rate
    p99 = benchlib.percentile(lags, 0.99)
    met = held and p99 < LAG_TARGET_MS and not result.problems
    why = "" if held else f" (the rate was not held: {load.achieved_rate():.0f}/s)"
    print(f"target delivery lag p99 under {LAG_TARGET_MS / 1000:g} s at {args.rate:g} redemptions/s: "
          f"{p99:,.0f} ms{why}: {'met' if met else 'MISSED'}")  # fmt: skip
    print(json.dumps({"lag_ms": {"p50": benchlib.percentile(lags, 0.5), "p99": p99}, "achieved_rate":
                      round(load.achieved_rate(), 1)}))  # fmt: skip
    return bool(result.problems)
