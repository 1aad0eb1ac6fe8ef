"""Each statement Tessera writes by hand, timed against the ORM code that does the same.

For every pair both paths run on the same data, and their answers are compared before timing.
A pair is timed in rounds: in each round `--calls` calls of one path, then as many of the other,
the order swapped every round; a round's figure is its µs per call. Reported per pair: the median
round of each path, wall clock and CPU time of this process (on SQLite the database's own work
runs in this process too), and the ORM's median over the hand-written one's. The machine is
shared, so medians over interleaved rounds, not single runs, are what to compare.

Writes run in a transaction rolled back at the end of each round, so every round starts from the
same data. The shop list's statements run on a shop with `--shop-codes` vouchers in batches of
500 (as the bridge creates them, four tags taking turns), 1% of them used.

    .venv/bin/python bench/bench_sql.py --db both [--rounds 21] [--calls 200] [--shop-codes 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from sql_pairs import Pair

PG_DATABASE = "tessera_bench_sql"


@dataclass
class Timed:
    name: str
    calls: int
    rounds: int
    raw_wall: float
    orm_wall: float
    raw_cpu: float
    orm_cpu: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=21, help="rounds per pair (each path once a round)")
    parser.add_argument("--calls", type=int, default=200, help="calls of each path per round")
    parser.add_argument("--shop-codes", type=int, default=1_000_000, help="vouchers of the listed shop")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db, pg_database=PG_DATABASE)
    try:
        return run(args)
    finally:
        if args.db == "postgres":
            from django.db import connections

            connections.close_all()
            benchlib.drop_postgres_database(PG_DATABASE)


def run(args: argparse.Namespace) -> int:
    benchlib.banner(f"bench_sql: hand-written SQL against the ORM on {benchlib.database_label()}")
    import sql_pairs  # models import only after django.setup()

    started = time.perf_counter()
    data = sql_pairs.seed(calls=args.calls, shop_codes=args.shop_codes)
    print(f"seeded in {time.perf_counter() - started:.1f} s: {data.summary()}")
    print(f"{args.rounds} rounds of {args.calls} calls per path unless the table says otherwise", flush=True)
    print(f"load average before: {_load()}", flush=True)
    rng = random.Random(7)
    results = []
    for pair in sql_pairs.pairs(data, rng):
        _check_agreement(pair)
        results.append(_time_pair(pair, calls=pair.calls or args.calls, rounds=pair.rounds or args.rounds))
        print(f"{pair.name}: done; load average {_load()}", flush=True)
    print()
    print(_table(results))
    print("(µs per call, the median round; CPU: this process's, which on SQLite includes the database's work)")
    return 0


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _check_agreement(pair: Pair) -> None:
    from django.db import transaction

    for n in (0, 1, 2):
        with transaction.atomic():
            raw = pair.raw(n)
            transaction.set_rollback(True)
        with transaction.atomic():
            orm = pair.orm(n)
            transaction.set_rollback(True)
        if raw != orm:
            raise SystemExit(f"{pair.name}: the two paths disagree on call {n}: {raw!r} != {orm!r}")


def _time_pair(pair: Pair, *, calls: int, rounds: int) -> Timed:
    walls: dict[str, list[float]] = {"raw": [], "orm": []}
    cpus: dict[str, list[float]] = {"raw": [], "orm": []}
    for round_number in range(rounds + 1):  # round 0 warms up and is not counted
        order = ("raw", "orm") if round_number % 2 else ("orm", "raw")
        for path in order:
            wall, cpu = _one_round(getattr(pair, path), calls=calls, writes=pair.writes)
            if round_number:
                walls[path].append(wall / calls * 1e6)
                cpus[path].append(cpu / calls * 1e6)
    median = benchlib.median
    return Timed(pair.name, calls, rounds, median(walls["raw"]), median(walls["orm"]),
                 median(cpus["raw"]), median(cpus["orm"]))  # fmt: skip


def _one_round(path: Callable[[int], Any], *, calls: int, writes: bool) -> tuple[float, float]:
    from django.db import transaction

    if writes:
        with transaction.atomic():
            wall, cpu = _timed_calls(path, calls)
            transaction.set_rollback(True)
        return wall, cpu
    return _timed_calls(path, calls)


def _timed_calls(path: Callable[[int], Any], calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(calls):
        path(n)
    return time.perf_counter() - wall, time.process_time() - cpu


def _table(results: list[Timed]) -> str:
    rows = [
        (t.name, f"{t.rounds}x{t.calls}", f"{t.raw_wall:,.0f}", f"{t.orm_wall:,.0f}", f"{t.orm_wall / t.raw_wall:.2f}x",
         f"{t.raw_cpu:,.0f}", f"{t.orm_cpu:,.0f}", f"{t.orm_wall - t.raw_wall:+,.0f}")
        for t in results
    ]  # fmt: skip
    headers = ("statement", "rounds", "raw µs", "ORM µs", "ORM/raw", "raw CPU µs", "ORM CPU µs", "ORM-raw µs")
    return benchlib.table(headers, rows)


if __name__ == "__main__":
    sys.exit(main())
