"""How long it takes to generate and persist a batch of codes, end to end through batch_create.

batch_create is what `tessera create-batch` runs. Beside it, for scale:
  * raw: the same number of rows into a bare table (same columns, no index, no constraint), by
    one COPY of a text payload on PostgreSQL and one executemany in one transaction on SQLite;
    the floor of what the database can take;
  * bulk_create: Django's Code.objects.bulk_create(batch_size=5000) into the real table, in one
    transaction, on a fresh batch: what the obvious ORM code would cost.
The codes for raw and bulk_create are generated before the clock starts; batch_create's time
includes generating its codes, and a split shows how much of it that is.

    .venv/bin/python bench/bench_batch.py --db both [--count 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from tessera.vouchers.models import Offer

TARGET_SECONDS = 5.0
BARE_TABLE = "bench_bare_code"


@dataclass
class BatchRun:
    """One timed batch_create, with where its time went."""

    rows_before: int
    total: float
    generation: float = 0.0
    chunk_writes: list[float] = field(default_factory=list)

    @property
    def writing(self) -> float:
        return sum(self.chunk_writes)

    @property
    def finishing(self) -> float:
        """Everything else: validation, the batch row, the audit event and the commit."""
        return self.total - self.generation - self.writing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=1_000_000, help="codes per batch")
    parser.add_argument("--repeat", type=int, default=3, help="timed batch_create runs")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db)
    return run(args.count, args.repeat)


def run(count: int, repeat: int) -> int:
    from tessera.vouchers import codes as codebook

    offer = benchlib.enrollment_offer(benchlib.running_session())
    benchlib.banner(f"bench_batch: {count:,} codes on {benchlib.database_label()}")
    generation_alone = [_time(lambda: codebook.generate(count)) for _ in range(repeat)]
    sample = codebook.generate(count)
    sorting_alone = benchlib.median([_time(lambda: sorted(sample)) for _ in range(repeat)])
    runs = [_timed_batch_create(offer, count) for _ in range(repeat)]
    baseline_codes = codebook.generate(count)  # outside the clock: the baselines time writing only
    raw = _time(lambda: _raw_insert(baseline_codes))
    bulk = _time(lambda: _bulk_create(offer, baseline_codes))
    _print_results(count, generation_alone, sorting_alone, runs, raw, bulk)
    return 0


def _time(work: Callable[[], object]) -> float:
    with benchlib.stopwatch() as took:
        work()
    return took[0]


# --- batch_create, instrumented ----------------------------------------------------------------


def _timed_batch_create(offer: Offer, count: int) -> BatchRun:
    from tessera.vouchers.models import Code
    from tessera.vouchers.services import BatchSpec, batch_create

    run = BatchRun(rows_before=Code.objects.count(), total=0.0)
    with _split_recorder(run) as progress, benchlib.stopwatch() as took:
        batch = batch_create(
            offer=offer, spec=BatchSpec(count=count, country="DE", tag="bench"), actor="bench", progress=progress
        )
    run.total = took[0]
    written = Code.objects.filter(batch=batch).count()
    if written != count:
        raise SystemExit(f"batch_create wrote {written:,} codes, not {count:,}")
    return run


@contextmanager
def _split_recorder(run: BatchRun) -> Iterator[Callable[[int], None]]:
    """Times codes.generate inside batch_create (by wrapping the module function it calls) and
    each chunk write (batch_create calls `progress` right after writing a chunk).

    The wrapper adds one function call per batch and the progress callback one per 50,000 codes,
    so the instrument costs nothing measurable.
    """
    from tessera.vouchers import codes as codebook

    real_generate = codebook.generate
    marks: list[float] = []

    def timed_generate(*args: object, **kwargs: object) -> list[str]:
        started = time.perf_counter()
        fresh = real_generate(*args, **kwargs)  # type: ignore[arg-type]
        run.generation = time.perf_counter() - started
        marks.append(time.perf_counter())
        return fresh

    def progress(_done: int) -> None:
        now = time.perf_counter()
        run.chunk_writes.append(now - marks[-1])
        marks.append(now)

    codebook.generate = timed_generate
    try:
        yield progress
    finally:
        codebook.generate = real_generate


# --- the baselines -----------------------------------------------------------------------------


def _raw_insert(codes: Sequence[str]) -> None:
    """The same rows into a table with no index and no constraint, in one transaction."""
    from django.db import connection, transaction

    _create_bare_table()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_into_bare_table(codes)
        else:
            _executemany_into_bare_table(codes)


def _create_bare_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BARE_TABLE} (code varchar(31), batch_id bigint, uses integer, "
            "max_uses integer, revoked_at timestamp)"
        )


def _copy_into_bare_table(codes: Sequence[str]) -> None:
    from django.db import connection

    row_end = "\t1\t0\t1\n"
    payload = row_end.join(codes) + row_end
    statement = f"COPY {BARE_TABLE} (code, batch_id, uses, max_uses) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(payload)


def _executemany_into_bare_table(codes: Sequence[str]) -> None:
    from django.db import connection

    statement = f"INSERT INTO {BARE_TABLE} (code, batch_id, uses, max_uses) VALUES (%s, %s, %s, %s)"
    with connection.cursor() as cursor:
        cursor.executemany(statement, [(code, 1, 0, 1) for code in codes])


def _bulk_create(offer: Offer, codes: Sequence[str]) -> None:
    """What the obvious ORM code costs: Code objects, bulk_create, one transaction, new batch."""
    from django.db import transaction

    from tessera.vouchers.models import Batch, Code

    batch = Batch.objects.create(offer=offer, count=len(codes), country="DE", tag="bulk-create")
    with transaction.atomic():
        objects = (Code(code=code, batch_id=batch.pk) for code in codes)
        Code.objects.bulk_create(objects, batch_size=5000)


# --- the report ---------------------------------------------------------------------------------


def _print_results(
    count: int,
    generation_alone: list[float],
    sorting_alone: float,
    runs: list[BatchRun],
    raw: float,
    bulk: float,
) -> None:
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    raw_name = "raw COPY" if on_postgres else "raw executemany"
    totals = [run.total for run in runs]
    best, middle = min(totals), benchlib.median(totals)
    print()
    print(f"batch_create, {len(runs)} runs (a fresh batch each; "
          f"the codes table grows by {count:,} each run)")  # fmt: skip
    print(_runs_table(count, runs))
    print()
    print(f"Compared with batch_create's median ({middle:.2f} s)")
    print(_comparison_table(count, best, middle, raw, raw_name, bulk))
    print()
    print(f"bulk_create is {bulk / middle:.1f}x slower than batch_create")
    print(f"batch_create takes {middle / raw:.1f}x the {raw_name}")
    writing_only = middle - benchlib.median([run.generation for run in runs])
    print(f"batch_create without its code generation ({writing_only:.2f} s) takes "
          f"{writing_only / raw:.1f}x the {raw_name}")  # fmt: skip
    print("(raw and bulk_create write codes generated before the clock starts; "
          "batch_create's time includes generating them)")  # fmt: skip
    print(f"(bulk_create rows per INSERT: {_bulk_create_rows_per_statement()}; "
          "Django lowers batch_size=5000 to what the database's parameter limit allows)")  # fmt: skip
    print()
    print(_split_table(generation_alone, sorting_alone, runs))
    print()
    print(_verdict(count, best, middle))


def _bulk_create_rows_per_statement() -> int:
    from django.db import connection

    from tessera.vouchers.models import Code

    fields = Code._meta.concrete_fields
    return min(5000, connection.ops.bulk_batch_size(fields, [None] * 5000))


def _verdict(count: int, best: float, middle: float) -> str:
    """Judged on the median run: one lucky run out of three does not make the target."""
    if middle <= TARGET_SECONDS:
        verdict = "met"
    elif best <= TARGET_SECONDS:
        verdict = "not met (only the best run is within it)"
    else:
        verdict = "not met"
    return (f"target: batch_create of {count:,} codes in <= {TARGET_SECONDS:.0f} s (median run): "
            f"best {best:.2f} s, median {middle:.2f} s -> {verdict}")  # fmt: skip


def _runs_table(count: int, runs: list[BatchRun]) -> str:
    rows = [
        [f"#{number}", f"{run.rows_before:,}", f"{run.total:.2f}", f"{count / run.total:,.0f}",
         f"{run.generation:.2f}", f"{run.writing:.2f}", f"{run.finishing:.2f}"]
        for number, run in enumerate(runs, start=1)
    ]  # fmt: skip
    headers = ["run", "rows before", "seconds", "codes/s",
               "generate s", "write chunks s", "commit+rest s"]  # fmt: skip
    note = ("(generate s: codes.generate inside batch_create; write chunks s: from its return to "
            "the last chunk written, so it includes any sorting done before writing; "
            "commit+rest s: validation, batch row, audit event, commit)")  # fmt: skip
    return benchlib.table(headers, rows) + "\n" + note


def _comparison_table(count: int, best: float, middle: float, raw: float, raw_name: str, bulk: float) -> str:
    rows = [
        ["batch_create (best)", f"{best:.2f}", f"{count / best:,.0f}", f"{best / middle:.2f}x"],
        ["batch_create (median)", f"{middle:.2f}", f"{count / middle:,.0f}", "1.00x"],
        [f"{raw_name}, bare table", f"{raw:.2f}", f"{count / raw:,.0f}", f"{raw / middle:.2f}x"],
        ["bulk_create(batch_size=5000)", f"{bulk:.2f}", f"{count / bulk:,.0f}", f"{bulk / middle:.2f}x"],
    ]
    return benchlib.table(["method", "seconds", "codes/s", "time vs batch_create"], rows)


def _split_table(generation_alone: list[float], sorting_alone: float, runs: list[BatchRun]) -> str:
    middle_total = benchlib.median([run.total for run in runs])
    generate_alone = benchlib.median(generation_alone)
    inside = benchlib.median([run.generation for run in runs])
    writing = benchlib.median([run.writing for run in runs])
    finishing = benchlib.median([run.finishing for run in runs])
    rest = middle_total - generate_alone
    parts = [
        ("codes.generate(N) alone, median of runs", generate_alone),
        ("the rest (batch_create median - generate)", rest),
        ("inside batch_create: generate", inside),
        ("inside batch_create: generate's return to last chunk written", writing),
        ("inside batch_create: batch row, audit, commit", finishing),
        ("for reference: sorted() of N codes alone", sorting_alone),
    ]
    rows = [[name, f"{seconds:.2f}", _share(seconds, middle_total)] for name, seconds in parts]
    title = "Split of batch_create's median time (each part a median over the runs)\n"
    return title + benchlib.table(["part", "seconds", "share"], rows)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%"


if __name__ == "__main__":
    sys.exit(main())
