"""Course platforms over HTTP on PostgreSQL: what the events' outbox costs a redemption, how
long an event takes to reach the platform's webhook at a steady 300 redemptions/s, and how many
events a second the webhook delivery can send at all.

Part `cost`: wrk at 32 connections on POST /api/v1/redemptions (learners' API tokens), the same
route and the same data size in each run, in interleaved rounds (the order turns each round):
  * tessera: codes of a Tessera session (no platform: no event is written);
  * platform: codes of a platform's session, its webhooks off: each redemption also takes the
    platform's row lock for its sequence numbers and writes code.redeemed and entitlement.granted;
  * platform-webhooks: the same on a platform whose webhooks are on: every commit also queues a
    delivery task, and the webhooks worker delivers to a receiver on 127.0.0.1 meanwhile;
  * platform-api: POST /api/v1/platform/redemptions with the platform's access token (webhooks
    off): the platform API's own path, reported beside, not part of the comparison.
Each run: a warm-up on a session of its own, then the timed run; afterwards the database is
checked (bench_http's checks, plus the outbox: gap-free sequence numbers, two events per
redemption) and, with webhooks on, the run waits until every event is delivered in order.

Part `lag`: redemptions at a fixed rate (bench/steady_load.py) for 60 s, by the learner API (the
cheapest route, so the rate is most likely held; --lag-route platform-api for the platform's own),
on a platform's session whose webhooks go to bench/webhook_sink.py, delivered by `tessera
db_worker --queue-name webhooks` (as `tessera run` starts it); the sink notes when each event
arrives, and the lag is that moment minus the event's occurred_at (the redemption's moment).

Part `drain` (bench/platforms_drain.py): the delivery's capacity, apart from how fast redemptions
can be made. The lag at a rate stays bounded only if the delivery drains a platform's events
faster than they arrive; at two events per redemption, the lag part's rate needs twice as many
events a second. A backlog of --drain-events events (code.redeemed and entitlement.granted in
turn, as redemptions write them) is written straight into a platform's outbox, then a webhooks
worker of its own is started and one delivery run queued; timed until the last is delivered,
with the worker's and the receiver's CPU per event, and the receiver's events checked (1..N in
order; repeats counted). Runs after the other parts, with their server and worker stopped.

Part `outbox-lag` (bench/platforms_outbox_lag.py): the lag part's measurement at --rate with the
redemptions left out, for a machine whose redemptions over HTTP cannot reach that rate: each
redemption's two events are written through tessera.platforms.events at the rate, each in a
transaction whose commit wakes the delivery as a redemption's does; the lag as in `lag`.

Runs on its own database, `tessera_bench_platforms` (dropped and created; dropped again at the end
unless --keep-database). The cost and lag parts need wrk (Debian: `apt-get install -y wrk`).

    .venv/bin/python bench/bench_platforms.py [--parts cost,lag,drain,outbox-lag] [--rounds 3] [--duration 20]
        [--rate 300] [--lag-duration 60] [--lag-route learner-api|platform-api] [--drain-events 20000]
        [--workers 2] [--threads 4]

Run it from the repository's root; outside a checkout whose src/ the virtualenv installs, with
PYTHONPATH=src, so that the server and the worker run this src/ too (it stops otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_http
import benchlib
import platformlib
import platforms_drain
import platforms_lag
import platforms_outbox_lag

DATABASE = "tessera_bench_platforms"
KINDS = ("tessera", "platform", "platform-webhooks", "platform-api")
COMPARED = ("platform", "platform-webhooks")  # each against tessera: the outbox's cost
COST_TARGET = 0.15  # the outbox may cost at most this share of the redemption throughput
PARTS = ("cost", "lag", "drain", "outbox-lag")
UNDER_LOAD = {"cost", "lag"}  # the parts that run the server and wrk


@dataclass
class Run:
    kind: str
    round: int
    scenario: bench_http.Scenario
    platform: Any = None  # the platform's Credentials; None for a Tessera session


@dataclass
class Outcome:
    run: Run
    result: bench_http.Result
    helpers_cpu_ms: dict[str, float] = field(
        default_factory=dict
    )  # the webhooks worker's and the receiver's, per request
    drained_s: float | None = None  # after the run, until every event was delivered and no task waited


@dataclass
class Seeded:
    runs: list[Run] = field(default_factory=list)
    hooked: Any = None  # Credentials of the platform whose webhooks are on (cost part)
    lag: platforms_lag.LagPlan | None = None
    sink_secrets: dict[str, str] = field(default_factory=dict)  # receiver path -> signing secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parts", default=",".join(PARTS),
        help="some of cost (the outbox's cost to a redemption), lag (delivery lag at --rate redemptions/s), "
             "drain (the delivery's capacity, events/s from a backlog) and outbox-lag (the lag at --rate "
             "redemptions/s' events written by the outbox, no redemption), comma-separated",
    )  # fmt: skip
    parser.add_argument("--kinds", default=",".join(KINDS), help="the cost part's kinds of run (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the cost part")
    parser.add_argument("--duration", type=int, default=20, help="seconds per cost run")
    parser.add_argument("--warm-up", type=int, default=3, help="seconds of warm-up before each cost run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections of the cost part")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=20_000, help="prepared redemptions per cost run")
    parser.add_argument("--rate", type=float, default=300, help="redemptions per second of the lag part")
    parser.add_argument("--lag-duration", type=int, default=60, help="seconds of the lag part")
    parser.add_argument("--lag-connections", type=int, default=64, help="connections of the lag part's sender")
    parser.add_argument(
        "--lag-route", default="learner-api", choices=platforms_lag.ROUTES,
        help="the lag part's redemptions: the learner API (the cheapest route) or the platform API",
    )  # fmt: skip
    parser.add_argument("--drain-events", type=int, default=20_000, help="events in the drain part's backlog")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--keep-database", action="store_true", help=f"leave {DATABASE} in place")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    args.server_side_binding = False  # bench_http's server options, as its defaults
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if not parts or parts - set(PARTS):
        parser.error(f"--parts takes some of {', '.join(PARTS)}")
    if args.drain_events < 1:
        parser.error("--drain-events takes a positive number")
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if not args.kinds or set(args.kinds) - set(KINDS):
        parser.error(f"--kinds takes some of {', '.join(KINDS)}")
    if parts & UNDER_LOAD and shutil.which("wrk") is None:
        print("wrk is not installed; on Debian or Ubuntu: apt-get install -y wrk", file=sys.stderr)
        return 2
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_platforms.py", *sys.argv[1:]]))
    # The sink listens on 127.0.0.1, where webhooks may go only when this is on (read by settings).
    os.environ["TESSERA_WEBHOOK_ALLOW_PRIVATE"] = "on"
    benchlib.setup_django("postgres", pg_database=DATABASE)
    _measuring_this_tree()
    try:
        return run(args, parts)
    finally:
        if not args.keep_database:
            from django.db import connections

            connections.close_all()
            benchlib.drop_postgres_database(DATABASE)


def _measuring_this_tree() -> None:
    """The server and the worker import Tessera as this process does: it must be this tree's src/."""
    import tessera

    if not Path(tessera.__file__).resolve().is_relative_to(benchlib.REPO / "src"):
        raise SystemExit(f"tessera is imported from {tessera.__file__}; run with PYTHONPATH=src from {benchlib.REPO}")


def run(args: argparse.Namespace, parts: set[str]) -> int:
    benchlib.banner(f"bench_platforms: course platforms over HTTP on {benchlib.database_label()}")
    print(bench_http._machine_line())
    outcomes: list[Outcome] = []
    lag = drain = outbox_lag = None
    with tempfile.TemporaryDirectory(prefix="tessera-bench-platforms-") as scratch:
        work = Path(scratch)
        if parts & UNDER_LOAD:
            outcomes, lag = _under_load(work, args, parts)
        if "drain" in parts:  # after the others, whose worker would otherwise deliver its backlog early
            drain = platforms_drain.measure(work / "drain", args)
        if "outbox-lag" in parts:  # likewise: its own worker, alone
            outbox_lag = platforms_outbox_lag.measure(work / "outbox-lag", args)
    return report(outcomes, lag, drain, outbox_lag, args)


def _under_load(
    work: Path, args: argparse.Namespace, parts: set[str]
) -> tuple[list[Outcome], platforms_lag.LagResult | None]:
    """The cost and lag parts: the server, the webhooks worker and the receiver, all running."""
    sink_port, received = bench_http._free_port(), work / "received.tsv"
    with benchlib.stopwatch() as took:
        seeded = seed(work, args, parts, f"http://127.0.0.1:{sink_port}")
    print(f"seeded in {took[0]:.1f} s: {bench_http._database_sizes()}", flush=True)
    with (
        platformlib.sink(sink_port, received, seeded.sink_secrets) as sink_pid,
        bench_http.gunicorn(args, work) as (base_url, server_pid),
        platformlib.webhooks_worker(work) as worker_pid,
    ):
        print(f"server: {' '.join(bench_http.gunicorn_argv(args, int(base_url.rsplit(':', 1)[1])))}")
        worker = " ".join(platformlib.WORKER_ARGV)
        print(f"worker: {worker}; receiver: bench/webhook_sink.py on port {sink_port}", flush=True)
        helpers = {"worker": worker_pid, "receiver": sink_pid}
        outcomes = [_measure(run, base_url, server_pid, helpers, args) for run in seeded.runs]
        if seeded.hooked is not None:
            _check_hooked_deliveries(seeded.hooked, received, outcomes)
        lag = None
        if seeded.lag is not None:
            lag = platforms_lag.measure(seeded.lag, base_url, server_pid, helpers, received, args)
    return outcomes, lag


# --- seeding -----------------------------------------------------------------------------------


def seed(work: Path, args: argparse.Namespace, parts: set[str], sink_url: str) -> Seeded:
    from tessera.platforms.services import platform_create

    seeded = Seeded()
    users = bench_http.Seeder(work, args)
    warm_up_pairs = users._warm_up_pairs()
    users._users(max(args.pairs, warm_up_pairs, round(args.rate * args.lag_duration) if "lag" in parts else 0))
    if "cost" in parts:
        plain = platform_create(name="Bench platform", slug="bench")
        seeded.hooked = platform_create(name="Bench hooked platform", slug="bench-hooked")
        seeded.sink_secrets["/hooks/bench-hooked"] = platformlib.hooked(seeded.hooked, f"{sink_url}/hooks/bench-hooked")
        platformlib.learners(plain.platform, [f"learner{n:06d}" for n in range(len(users._tokens))], existing=True)
        for round_number in range(1, args.rounds + 1):
            turn = (round_number - 1) % len(args.kinds)
            kinds = args.kinds[turn:] + args.kinds[:turn]  # each kind first once in a while
            for kind in kinds:
                platform = {"tessera": None, "platform-webhooks": seeded.hooked}.get(kind, plain)
                seeded.runs.append(_cost_run(users, kind, round_number, platform, args.pairs, warm_up_pairs))
    if "lag" in parts:
        seeded.lag = platforms_lag.plan(users, args, f"{sink_url}{platforms_lag.PATH}")
        seeded.sink_secrets[platforms_lag.PATH] = seeded.lag.secret
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return seeded


def _cost_run(users: bench_http.Seeder, kind: str, round_number: int, platform: Any, pairs: int, warm: int) -> Run:
    """A run's requests: line i is learner i redeeming code i of the run's session."""
    name = f"{kind}-{round_number}"
    files = []
    for suffix, count in (("", pairs), ("-warm-up", warm)):
        if platform is None:
            session = benchlib.running_session(f"bench-{name}{suffix}")
            slug, external_id = session.slug, ""
        else:
            mapped = platformlib.platform_session(platform.platform, f"{name}{suffix}")
            session, slug, external_id = mapped.session, mapped.session.slug, mapped.external_id
        codes = platformlib.codes(session, count)
        if kind == "platform-api":
            lines = [
                platformlib.platform_api_line(f"learner{n:06d}", code, external_id) for n, code in enumerate(codes)
            ]
        else:
            lines = [
                ("POST", "/api/v1/redemptions", token, json.dumps({"code": code, "session": slug}))
                for token, code in zip(users._tokens, codes, strict=False)
            ]
        files.append((users._write(f"{name}{suffix}", lines), slug))
    (requests, slug), (warm_up, _) = files
    scenario = bench_http.Scenario(
        name=name, requests_file=requests, connections=users.args.connections, expected_status=201,
        may_repeat=False, warm_up_file=warm_up, session_slug=slug,
    )  # fmt: skip
    return Run(kind=kind, round=round_number, scenario=scenario, platform=platform)


# --- one cost run ------------------------------------------------------------------------------


def _measure(run: Run, base_url: str, server_pid: int, helpers: dict[str, int], args: argparse.Namespace) -> Outcome:
    bench_http._wait_for_autovacuum()
    scenario = run.scenario
    if run.kind == "platform-api":  # tokens live ten minutes: one fetched just before each run
        token = platformlib.access_token(base_url, run.platform, "redeem")
        scenario = dataclasses.replace(scenario, requests_file=platformlib.with_token(scenario.requests_file, token),
                                       warm_up_file=platformlib.with_token(scenario.warm_up_file, token))  # fmt: skip
    warm_up = bench_http.Scenario(f"{scenario.name} warm-up", scenario.warm_up_file or scenario.requests_file,
                                  scenario.connections, 201, may_repeat=False)  # fmt: skip
    warmed = bench_http._wrk(warm_up, base_url, args.warm_up, args, server_pid)
    if bench_http._status_problems(warmed):
        raise SystemExit(f"{warm_up.name} FAILED: {'; '.join(bench_http._status_problems(warmed))}")
    bench_http._wait_until_server_idle()
    if run.kind == "platform-webhooks":
        _drained(run.platform.platform.pk)
    before, helpers_before = bench_http._rows_counted(scenario), platformlib.process_cpu(helpers)
    result = bench_http._wrk(scenario, base_url, args.duration, args, server_pid)
    helpers_used = platformlib.cpu_since(helpers, helpers_before)
    helpers_cpu = sum(helpers_used.values())
    per_request = {name: 1000 * seconds / max(result.requests, 1) for name, seconds in helpers_used.items()}
    outcome = Outcome(run=run, result=result, helpers_cpu_ms=per_request)
    # bench_http counted the helpers' CPU time among the others'; it is this run's own.
    result.others_share = max(0.0, result.others_share - helpers_cpu / (result.seconds * (os.cpu_count() or 1)))
    bench_http._wait_until_server_idle()
    bench_http._check_redemptions(result, before)
    result.problems.extend(bench_http._status_problems(result))
    if run.platform is not None:
        result.problems.extend(platformlib.outbox_problems(run.platform.platform.pk))
    if run.kind == "platform-webhooks":
        outcome.drained_s = _drained(run.platform.platform.pk)
        if outcome.drained_s is None:
            result.problems.append("events still undelivered 300 s after the run")
    result.check = "FAILED" if result.problems else "OK"
    p = result.percentiles_ms
    print(f"{scenario.name}: {result.rate:,.0f} req/s, p50 {p['50']:.1f} ms, p99 {p['99']:.1f} ms, "
          f"check {result.check}", flush=True)  # fmt: skip
    for problem in result.problems:
        print(f"  FAILED: {problem}", flush=True)
    return outcome


def _drained(platform_pk: int, limit: float = 300) -> float | None:
    """Seconds until the platform's every event is delivered and no webhooks task waits; None
    when that took longer than `limit`."""
    from django_tasks_db.models import DBTaskResult

    from tessera.platforms.models import Platform

    started = time.monotonic()
    while time.monotonic() - started < limit:
        platform = Platform.objects.get(pk=platform_pk)
        waiting = DBTaskResult.objects.filter(queue_name="webhooks", status="READY").exists()
        if platform.delivered_seq == platform.last_event_seq and not waiting:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def _check_hooked_deliveries(hooked: Any, received: Path, outcomes: list[Outcome]) -> None:
    """The hooked platform's receiver got every event in sequence order (repeats dropped by id)."""
    from tessera.platforms.models import Platform

    last = Platform.objects.get(pk=hooked.platform.pk).last_event_seq
    arrivals = platformlib.arrivals(received, "/hooks/bench-hooked")
    seqs = [arrival.seq for arrival in platformlib.first_deliveries(arrivals)]
    if seqs != list(range(1, last + 1)):
        problem = f"the receiver's events are not 1..{last} in order ({len(seqs)} received)"
        for outcome in outcomes:
            if outcome.run.kind == "platform-webhooks":
                outcome.result.problems.append(problem)
                outcome.result.check = "FAILED"
        print(f"  FAILED: {problem}", flush=True)


# --- the report --------------------------------------------------------------------------------


def report(
    outcomes: list[Outcome],
    lag: platforms_lag.LagResult | None,
    drain: platforms_drain.DrainResult | None,
    outbox_lag: platforms_outbox_lag.OutboxLagResult | None,
    args: argparse.Namespace,
) -> int:
    failed = False
    if outcomes:
        print()
        print(_runs_table(outcomes))
        print()
        print(_comparison_table(outcomes))
        print()
        failed |= any(outcome.result.problems for outcome in outcomes)
        for kind in COMPARED:
            cost = _throughput_cost(outcomes, kind)
            verdict = "met" if cost <= COST_TARGET and not failed else "MISSED"
            print(f"target outbox cost ({kind} against tessera): at most {COST_TARGET:.0%} of the throughput: "
                  f"{cost:.1%}: {verdict}")  # fmt: skip
        print("wrk commands (each run after a warm-up of its own):")
        for outcome in outcomes:
            print(f"  {outcome.run.scenario.name}: {outcome.result.wrk_command}")
    if lag is not None:
        print()
        failed |= platforms_lag.report(lag, args)
    if drain is not None:
        print()
        failed |= platforms_drain.report(drain, args)
    if outbox_lag is not None:
        print()
        failed |= platforms_outbox_lag.report(outbox_lag, args)
    print("all checks: OK" if not failed else "all checks: FAILED")
    return 1 if failed else 0


def _runs_table(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        r, cpu = o.result, o.result.cpu_ms_per_request
        rows.append([
            r.scenario.name, f"{r.requests:,}", f"{r.rate:,.0f}",
            *(f"{r.percentiles_ms[p]:.1f}" for p in ("50", "95", "99")),
            f"{cpu['gunicorn']:.2f}", f"{cpu['postgres']:.2f}", f"{cpu['wrk']:.2f}",
            f"{o.helpers_cpu_ms['worker']:.2f}", f"{o.helpers_cpu_ms['receiver']:.2f}", f"{_cpu(o):.2f}",
            f"{100 * r.others_share:.0f}%",
            "-" if o.drained_s is None else f"{o.drained_s:.1f}", r.check,
        ])  # fmt: skip
    headers = ["run", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "gunicorn", "postgres", "wrk", "worker",
               "receiver", "CPU ms/req", "others", "drained s", "check"]  # fmt: skip
    title = (
        "Each run (in the order run). CPU ms per request from /proc: gunicorn, PostgreSQL (the bench database's\n"
        "backends, the worker's included, and the server's own processes), wrk, the webhooks worker and the\n"
        "receiver (bench/webhook_sink.py); 'others': the share of both cores used by processes outside this run;\n"
        "'drained s': after the run, until every event was delivered and no webhooks task waited\n"
    )
    return title + benchlib.table(headers, rows)


def _by_kind(outcomes: list[Outcome], kind: str) -> list[Outcome]:
    return [o for o in outcomes if o.run.kind == kind]


def _throughput_cost(outcomes: list[Outcome], kind: str) -> float:
    """1 - median over the rounds of (this kind's req/s / tessera's req/s in the same round)."""
    base = {o.run.round: o.result.rate for o in _by_kind(outcomes, "tessera")}
    ratios = [o.result.rate / base[o.run.round] for o in _by_kind(outcomes, kind) if base.get(o.run.round)]
    return 1 - benchlib.median(ratios) if ratios else float("nan")


def _comparison_table(outcomes: list[Outcome]) -> str:
    base = _by_kind(outcomes, "tessera")
    base_rate = benchlib.median([o.result.rate for o in base]) if base else float("nan")
    base_cpu = benchlib.median([_cpu(o) for o in base]) if base else float("nan")
    rows = []
    for kind in KINDS:
        runs = _by_kind(outcomes, kind)
        if not runs:
            continue
        rate = benchlib.median([o.result.rate for o in runs])
        cpu = benchlib.median([_cpu(o) for o in runs])
        paired = "-" if kind == "tessera" else f"{1 - _throughput_cost(outcomes, kind):.2f}x"
        rows.append([
            kind, len(runs), " / ".join(f"{o.result.rate:,.0f}" for o in runs), f"{rate:,.0f}",
            *(f"{benchlib.median([o.result.percentiles_ms[p] for o in runs]):.1f}" for p in ("50", "95", "99")),
            f"{cpu:.2f}", f"{rate / base_rate:.2f}x", paired, f"{cpu / base_cpu:.2f}x",
        ])  # fmt: skip
    headers = ["kind", "runs", "req/s of each run", "median req/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms/req",
               "req/s vs tessera", "paired by round", "CPU vs tessera"]  # fmt: skip
    title = (
        "Per kind, medians over the rounds; 'paired by round': the median of each round's ratio to that round's\n"
        "tessera run (the target is judged on it)\n"
    )
    return title + benchlib.table(headers, rows)


def _cpu(outcome: Outcome) -> float:
    return sum(outcome.result.cpu_ms_per_request.values()) + sum(outcome.helpers_cpu_ms.values())


if __name__ == "__main__":
    sys.exit(main())
