"""How long it takes to import a file of codes made elsewhere, end to end through `tessera import-codes`.

Each run writes a fresh CSV file of `--count` codes shaped as a reseller's might be (a dash, then
twelve letters and digits, I, L, O and U included, so none reads as a Tessera code's look-alike),
then times the command in this process: reading the file, checking every line, writing the codes
(one COPY on PostgreSQL) and committing. The codes table grows by `--count` each run. Beside it,
for where the time goes: reading the file alone (codes_from_csv) and checking its codes alone
(codes.imported_key over all of them), each timed on the last run's file.

    .venv/bin/python bench/bench_import.py --db postgres [--count 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from tessera.vouchers.models import Offer

TARGET_SECONDS = 10.0
PG_DATABASE = "tessera_bench_import"
SYMBOLS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
RANDOM_SYMBOLS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=1_000_000, help="codes per file")
    parser.add_argument("--repeat", type=int, default=3, help="timed imports")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db, pg_database=PG_DATABASE)
    try:
        return run(args.count, args.repeat)
    finally:
        if args.db == "postgres":
            from django.db import connections

            connections.close_all()
            benchlib.drop_postgres_database(PG_DATABASE)


def run(count: int, repeat: int) -> int:
    offer = benchlib.enrollment_offer(benchlib.running_session())
    benchlib.banner(f"bench_import: {count:,} imported codes on {benchlib.database_label()}")
    with tempfile.TemporaryDirectory() as folder:
        runs, path = [], Path(folder) / "reseller.csv"
        for _ in range(repeat):
            _write_file(path, count)
            runs.append(_timed_import(offer, path, count))
        reading, checking = _time_parts(path)
    _print_results(count, runs, reading, checking)
    return 0


def _write_file(path: Path, count: int) -> None:
    """`count` distinct codes "RS-" + twelve symbols, one a line under a header."""
    codes: set[str] = set()
    while len(codes) < count:
        missing = count - len(codes)
        raw = os.urandom(missing * RANDOM_SYMBOLS)
        text = bytes(SYMBOLS[byte % len(SYMBOLS)] for byte in raw).decode("ascii")  # a slight bias is harmless here
        codes.update(f"RS-{text[start : start + RANDOM_SYMBOLS]}" for start in range(0, len(text), RANDOM_SYMBOLS))
    path.write_text("code\n" + "\n".join(codes) + "\n", encoding="ascii")


def _timed_import(offer: Offer, path: Path, count: int) -> tuple[int, float]:
    """(rows before, seconds) of one `tessera import-codes` of the file."""
    from django.core.management import call_command

    from tessera.vouchers.models import Batch, Code

    rows_before = Code.objects.count()
    arguments = [str(path), "--offer", str(offer.pk), "--country", "DE", "--tag", "bench", "--no-progress"]
    with benchlib.stopwatch() as took:
        call_command("import_codes", *arguments, stdout=StringIO())
    batch = Batch.objects.filter(imported=True).latest("pk")
    written = Code.objects.filter(batch=batch).count()
    if written != count:
        raise SystemExit(f"import-codes wrote {written:,} codes, not {count:,}")
    return rows_before, took[0]


def _time_parts(path: Path) -> tuple[float, float]:
    from tessera.vouchers import codes as codebook
    from tessera.vouchers.services import codes_from_csv

    with path.open(encoding="utf-8-sig", newline="") as file, benchlib.stopwatch() as reading:
        codes = codes_from_csv(file, source=path.name)
    checking = _time(lambda: [codebook.imported_key(text) for text in codes.codes])
    return reading[0], checking


def _time(work: Callable[[], object]) -> float:
    with benchlib.stopwatch() as took:
        work()
    return took[0]


def _print_results(count: int, runs: list[tuple[int, float]], reading: float, checking: float) -> None:
    seconds = [took for _, took in runs]
    best, middle = min(seconds), benchlib.median(seconds)
    print()
    print(f"tessera import-codes, {len(runs)} runs (a fresh file each; the codes table grows by {count:,} each run)")
    rows = [
        [f"#{number}", f"{before:,}", f"{took:.2f}", f"{count / took:,.0f}"]
        for number, (before, took) in enumerate(runs, start=1)
    ]
    print(benchlib.table(["run", "rows before", "seconds", "codes/s"], rows))
    print()
    print("Where the time goes (the last run's file, timed alone)")
    parts = [
        ["reading the CSV (codes_from_csv)", f"{reading:.2f}"],
        ["checking every code (imported_key)", f"{checking:.2f}"],
        ["the rest: duplicates, sorting, writing, commit", f"{max(0.0, middle - reading - checking):.2f}"],
        ["import-codes (median)", f"{middle:.2f}"],
    ]
    print(benchlib.table(["part", "seconds"], parts))
    print()
    verdict = "met" if middle <= TARGET_SECONDS else "not met"
    print(f"target: {count:,} imported codes in <= {TARGET_SECONDS:.0f} s (median run): "
          f"best {best:.2f} s, median {middle:.2f} s -> {verdict}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
