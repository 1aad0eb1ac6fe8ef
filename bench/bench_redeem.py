"""Redemptions per second through voucher_redeem, with 1, 8 and 32 concurrent workers.

Scenarios, each cell on fresh codes and fresh users:
  * random: many single-use codes, every redemption a different code and a different user;
  * hot: one code with 10,000 uses, every redemption a different user (all fight for one row);
  * hot, over-subscribed: a code with 500 uses, 32 workers try 800 redemptions; exactly 500 must
    succeed and 300 be refused as exhausted.
Workers are threads, each with Django's own per-thread connection, opened before the clock
starts. After every cell the whole database is checked: no code used more than max_uses, every
code's `uses` equal to its live redemptions, one enrollment per redemption.

The redemption is measured without the learners' rate limits (limited=False): every worker
comes from one address, whose refusals in the over-subscribed cell would soon be refused as
rate_limited; the limiter's own cost is measured in docs/rate-limits.md.

SQLite runs IMMEDIATE transactions (settings): writers queue for the one write lock, so more
workers cannot mean more throughput there; that is reported as it is.

    .venv/bin/python bench/bench_redeem.py --db both [--redemptions 2000] [--workers 1,8,32]
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tessera.catalog.models import CourseSession

HOT_USES = 10_000
OVERSUBSCRIBED_USES = 500
OVERSUBSCRIBED_ATTEMPTS = 800
OVERSUBSCRIBED_WORKERS = 32
WARM_UP = 50
START_TIMEOUT = 120  # seconds all workers may take to connect before the clock starts


@dataclass
class Cell:
    """One (scenario, workers) measurement."""

    scenario: str
    workers: int
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    check: str = "not run"

    @property
    def attempts(self) -> int:
        return len(self.latencies)

    @property
    def succeeded(self) -> int:
        return self.outcomes["ok"]

    @property
    def refusals(self) -> dict[str, int]:
        return {outcome: n for outcome, n in self.outcomes.items() if outcome != "ok"}


class Fixtures:
    """The session and offer every cell redeems on, and a supply of users never used twice."""

    def __init__(self, total_users: int) -> None:
        from django.contrib.auth.models import User

        self.session = benchlib.running_session()
        self.offer = benchlib.enrollment_offer(self.session)
        made = User.objects.bulk_create(User(username=f"bench{n}") for n in range(total_users))
        if any(user.pk is None for user in made):
            raise SystemExit("bulk_create did not return user ids; cannot run")
        self._unused = made

    def users(self, count: int) -> list[User]:
        taken, self._unused = self._unused[:count], self._unused[count:]
        if len(taken) < count:
            raise SystemExit("ran out of prepared users")
        return taken

    def codes(self, *, count: int, uses_per_code: int) -> list[str]:
        from tessera.vouchers.services import BatchSpec, batch_create

        batch = batch_create(
            offer=self.offer, spec=BatchSpec(count=count, uses_per_code=uses_per_code, country="DE"), actor="bench"
        )
        return list(batch.codes.values_list("code", flat=True))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redemptions", type=int, default=2000, help="redemptions per cell")
    parser.add_argument("--workers", default="1,8,32", help="comma-separated worker counts")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db)
    worker_counts = [int(n) for n in args.workers.split(",")]
    return run(args.redemptions, worker_counts)


def run(redemptions: int, worker_counts: list[int]) -> int:
    cells_planned = 2 * len(worker_counts)
    fixtures = Fixtures(WARM_UP + cells_planned * redemptions + OVERSUBSCRIBED_ATTEMPTS)
    benchlib.banner(f"bench_redeem: voucher_redeem on {benchlib.database_label()}")
    print(f"{redemptions:,} redemptions per cell; hot code: {HOT_USES:,} uses, fresh each cell")
    _warm_up(fixtures)
    cells: list[Cell] = []
    for workers in worker_counts:
        cells.append(_measure("random codes", workers, _random_pairs(fixtures, redemptions), fixtures))
    for workers in worker_counts:
        cells.append(_measure("hot code", workers, _hot_pairs(fixtures, redemptions, HOT_USES), fixtures))
    oversubscribed = _measure(
        f"hot code over-subscribed ({OVERSUBSCRIBED_USES} uses)", OVERSUBSCRIBED_WORKERS,
        _hot_pairs(fixtures, OVERSUBSCRIBED_ATTEMPTS, OVERSUBSCRIBED_USES), fixtures,
    )  # fmt: skip
    cells.append(oversubscribed)
    print()
    print(_results_table(cells))
    return _verdict(cells[:-1], oversubscribed)


def _warm_up(fixtures: Fixtures) -> None:
    """A few redemptions first, so imports, first queries and caches are not billed to cell 1."""
    from django.db import connections

    from tessera.vouchers.services import voucher_redeem

    for code, user in _random_pairs(fixtures, WARM_UP):
        voucher_redeem(code=code, user=user, session=fixtures.session, limited=False)
    connections.close_all()


def _random_pairs(fixtures: Fixtures, count: int) -> list[tuple[str, User]]:
    codes = fixtures.codes(count=count, uses_per_code=1)
    return list(zip(codes, fixtures.users(count), strict=True))


def _hot_pairs(fixtures: Fixtures, count: int, uses: int) -> list[tuple[str, User]]:
    (code,) = fixtures.codes(count=1, uses_per_code=uses)
    return [(code, user) for user in fixtures.users(count)]


# --- one cell ----------------------------------------------------------------------------------


def _measure(scenario: str, workers: int, pairs: list[tuple[str, User]], fixtures: Fixtures) -> Cell:
    from tessera.vouchers.models import Redemption

    cell = Cell(scenario=scenario, workers=workers)
    before = Redemption.objects.count()
    _redeem_concurrently(cell, pairs, fixtures.session)
    problems = _overuse_problems()
    recorded = Redemption.objects.count() - before
    if recorded != cell.succeeded:
        problems.append(f"{cell.succeeded} redemptions succeeded but {recorded} were recorded")
    cell.check = "OK" if not problems else "FAILED"
    print(f"{scenario}, {workers} workers: {cell.attempts / cell.seconds:,.0f}/s, "
          f"over-use check: {cell.check}", flush=True)  # fmt: skip
    if problems:
        for problem in problems:
            print(f"  over-use check FAILED: {problem}")
        raise SystemExit(1)
    return cell


def _redeem_concurrently(cell: Cell, pairs: list[tuple[str, User]], session: CourseSession) -> None:
    """Runs `pairs` through `cell.workers` threads; the clock runs from all-connected to all-done."""
    work: queue.SimpleQueue[tuple[str, User]] = queue.SimpleQueue()
    for pair in pairs:
        work.put(pair)
    results: list[list[tuple[float, str]]] = [[] for _ in range(cell.workers)]
    start_line = threading.Barrier(cell.workers + 1, timeout=START_TIMEOUT)
    threads = [
        threading.Thread(target=_worker, args=(work, session, start_line, results[n])) for n in range(cell.workers)
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    cell.seconds = time.perf_counter() - started
    for latency, outcome in (result for per_thread in results for result in per_thread):
        cell.latencies.append(latency)
        cell.outcomes[outcome] += 1
    if cell.attempts != len(pairs):
        raise SystemExit(f"{len(pairs) - cell.attempts} redemptions were never attempted")


def _worker(
    work: queue.SimpleQueue[tuple[str, User]],
    session: CourseSession,
    start_line: threading.Barrier,
    results: list[tuple[float, str]],
) -> None:
    from django.db import DatabaseError, connection, connections

    from tessera.vouchers.errors import RedemptionRefused
    from tessera.vouchers.services import voucher_redeem

    try:
        connection.ensure_connection()  # connecting is not a redemption: done before the clock
        start_line.wait()
        while True:
            try:
                code, user = work.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            try:
                voucher_redeem(code=code, user=user, session=session, client_ip="127.0.0.1", limited=False)
                outcome = "ok"
            except RedemptionRefused as refusal:
                outcome = str(refusal.code)
            except DatabaseError as error:  # e.g. "database is locked": reported, not hidden
                outcome = type(error).__name__
            results.append((time.perf_counter() - started, outcome))
    finally:
        connections.close_all()  # this thread's connections only: Django keeps them per thread


def _overuse_problems() -> list[str]:
    """Whole-database invariants: never more uses than allowed, and uses match what was recorded."""
    from django.db.models import Count, F, Q

    from tessera.catalog.models import Enrollment
    from tessera.vouchers.models import Code, Redemption

    problems = []
    over = Code.objects.filter(uses__gt=F("max_uses")).count()
    if over:
        problems.append(f"{over} codes have uses > max_uses")
    live = Count("redemptions", filter=Q(redemptions__reversed_at__isnull=True))
    mismatched = Code.objects.annotate(live=live).exclude(uses=F("live")).count()
    if mismatched:
        problems.append(f"{mismatched} codes have uses != their live redemptions")
    enrollments, redemptions = Enrollment.objects.count(), Redemption.objects.count()
    if enrollments != redemptions:
        problems.append(f"{enrollments} enrollments but {redemptions} redemptions")
    return problems


# --- the report ---------------------------------------------------------------------------------


def _results_table(cells: list[Cell]) -> str:
    rows = []
    for cell in cells:
        ordered = sorted(cell.latencies)
        rows.append([
            cell.scenario, cell.workers, f"{cell.attempts:,}", f"{cell.succeeded:,}",
            f"{cell.seconds:.2f}", f"{cell.attempts / cell.seconds:,.0f}",
            f"{1000 * benchlib.percentile(ordered, 0.50):.1f}",
            f"{1000 * benchlib.percentile(ordered, 0.99):.1f}",
            _refusals_text(cell.refusals), cell.check,
        ])  # fmt: skip
    headers = ["scenario", "workers", "attempts", "ok", "seconds", "redemptions/s",
               "p50 ms", "p99 ms", "refusals/errors", "over-use check"]  # fmt: skip
    return benchlib.table(headers, rows)


def _refusals_text(refusals: dict[str, int]) -> str:
    if not refusals:
        return "none"
    return ", ".join(f"{outcome} {count}" for outcome, count in sorted(refusals.items()))


def _verdict(cells: list[Cell], oversubscribed: Cell) -> int:
    failed = False
    unexpected = {f"{cell.scenario}/{cell.workers}": cell.refusals for cell in cells if cell.refusals}
    if unexpected:
        print(f"UNEXPECTED refusals or errors: {unexpected}")
        failed = True
    expected = {"ok": OVERSUBSCRIBED_USES, "exhausted": OVERSUBSCRIBED_ATTEMPTS - OVERSUBSCRIBED_USES}
    if dict(oversubscribed.outcomes) != expected:
        print(f"over-subscribed hot code: expected {expected}, got {dict(oversubscribed.outcomes)}")
        failed = True
    else:
        print(f"over-subscribed hot code: exactly {OVERSUBSCRIBED_USES} succeeded and "
              f"{OVERSUBSCRIBED_ATTEMPTS - OVERSUBSCRIBED_USES} were refused as exhausted: OK")  # fmt: skip
    print("all checks: OK" if not failed else "all checks: FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
