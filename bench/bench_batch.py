"""How long it takes to generate and persist a batch of codes, end to end through batch_create.

batch_create is what `tessera create-batch` runs. Each round times it beside, in the same round:
  * raw COPY: codes from the same codes.generate, generated and sorted before the clock starts,
    written into the same codes table with all its indexes as a batch of their own, by one COPY of
    a text payload (PostgreSQL) or one executemany (SQLite), in one transaction: what the database
    takes for the same rows, with nothing of Tessera around it. Rounds alternate which of the two
    goes first, and the ratio is taken within each round (the machine is shared);
  * bare: the same rows into a bare table (same columns, no index, no constraint): the floor.
A primary key cannot take the same code twice, so raw COPY writes codes of its own, drawn the same
way; both are committed, so the codes table grows by two batches a round.

  --existing N  first fills the codes table with N codes (batches of a million through the same
                COPY path, each timed), so the timed rounds write into a big table;
  --bulk-create also times Django's Code.objects.bulk_create(batch_size=5000) once at the end;
  --split       (PostgreSQL) at the end, one COPY of a million codes each without the (batch_id,
                code) index, without the primary key, without both, with all indexes, and with all
                indexes but every code starting with the same two symbols (what batch-local keys
                would buy), each in a transaction rolled back afterwards;
  --drop        drops the PostgreSQL bench database at the end.

On PostgreSQL every timed write also reports, from PostgreSQL's statistics views, the WAL it wrote,
its full-page images, the buffers backends had to write out themselves, and the blocks of the
primary-key index it read from outside shared_buffers (WAL and buffer counts are the whole
server's: other databases' work shows up in them too).

    .venv/bin/python bench/bench_batch.py --db both [--count 1000000] [--repeat 5]
    .venv/bin/python bench/bench_batch.py --db postgres --repeat 5 --existing 10000000 \\
        --pg-database tessera_bench_batch --split --drop
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from tessera.vouchers.models import Batch, Offer

TARGET_SECONDS = 5.0
BARE_TABLE = "bench_bare_code"
FILL_STEP = 1_000_000
PG_DATABASE = benchlib.PG_BENCH_DB


@dataclass
class Counters:
    """What PostgreSQL counted during one timed write (empty on SQLite)."""

    wal_mb: float = 0.0
    fpi: int = 0
    backend_writes: int = 0
    pkey_reads: int = 0
    pkey_hits: int = 0
    checkpoints: int = 0


@dataclass
class BatchRun:
    """One timed batch_create, with where its time went."""

    rows_before: int
    total: float
    generation: float = 0.0
    chunk_writes: list[float] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)

    @property
    def writing(self) -> float:
        return sum(self.chunk_writes)

    @property
    def finishing(self) -> float:
        """Everything else: validation, the batch row, the audit event and the commit."""
        return self.total - self.generation - self.writing


@dataclass
class Round:
    """One round: batch_create and the raw COPY of as many codes, in alternating order."""

    number: int
    raw_first: bool
    batch: BatchRun
    raw: float
    raw_rows_before: int
    raw_counters: Counters
    bare: float

    @property
    def ratio(self) -> float:
        return self.batch.total / self.raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=1_000_000, help="codes per batch")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (batch_create and raw COPY each)")
    parser.add_argument("--existing", type=int, default=0, help="codes in the table before the rounds")
    parser.add_argument("--bulk-create", action="store_true", help="also time bulk_create once")
    parser.add_argument("--split", action="store_true", help="PostgreSQL: COPY with each index left out")
    parser.add_argument("--pg-database", default=PG_DATABASE, help="the PostgreSQL bench database")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL bench database at the end")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db, pg_database=args.pg_database)
    try:
        return run(args)
    finally:
        if args.drop and args.db == "postgres":
            from django.db import connection

            connection.close()
            benchlib.drop_postgres_database(args.pg_database)
            print(f"(dropped database {args.pg_database})")


def run(args: argparse.Namespace) -> int:
    from tessera.vouchers import codes as codebook

    count, repeat = args.count, args.repeat
    offer = benchlib.enrollment_offer(benchlib.running_session())
    benchlib.banner(f"bench_batch: {count:,} codes on {benchlib.database_label()}")
    print(_machine_moment())
    if args.existing:
        _fill(offer, args.existing)
    generation_alone = [_time(lambda: codebook.generate(count)) for _ in range(repeat)]
    sample = codebook.generate(count)
    sorting_alone = benchlib.median([_time(lambda: sorted(sample)) for _ in range(repeat)])
    rounds = [_round(offer, count, number) for number in range(1, repeat + 1)]
    _print_results(count, generation_alone, sorting_alone, rounds)
    if args.bulk_create:
        bulk = _time(lambda: _bulk_create(offer, codebook.generate(count)))
        print(f"\nbulk_create(batch_size=5000) of {count:,} codes: {bulk:.2f} s, "
              f"{bulk / benchlib.median([r.batch.total for r in rounds]):.1f}x batch_create's median "
              f"(rows per INSERT: {_bulk_create_rows_per_statement()})")  # fmt: skip
    if args.split and _on_postgres():
        _print_split_by_index(offer, count)
    print()
    print(_machine_moment())
    return 0


def _time(work: Callable[[], object]) -> float:
    with benchlib.stopwatch() as took:
        work()
    return took[0]


def _on_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _machine_moment() -> str:
    one, five, fifteen = os.getloadavg()
    line = f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"
    if _on_postgres():
        settings = [_show(name) for name in ("shared_buffers", "max_wal_size", "synchronous_commit", "wal_compression")]
        line += "; shared_buffers {}, max_wal_size {}, synchronous_commit {}, wal_compression {}".format(*settings)
    return line


def _show(setting: str) -> str:
    return str(_scalar(f"SHOW {setting}"))


def _scalar(sql: str) -> object:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


# --- filling the table first ---------------------------------------------------------------------


def _fill(offer: Offer, existing: int) -> None:
    """`existing` codes in batches of a million, each through the codes table's own COPY path
    (generated and sorted first), so its indexes grow as a real table's do; each step timed."""
    from django.db import transaction

    from tessera.vouchers import codes as codebook
    from tessera.vouchers.bulk_insert import codes_writer

    steps: list[tuple[int, float]] = []
    with benchlib.stopwatch() as took:
        for start in range(0, existing, FILL_STEP):
            size = min(FILL_STEP, existing - start)
            fresh = sorted(codebook.generate(size))
            batch = _plain_batch(offer, size, "existing")
            writer = codes_writer(batch_id=batch.pk, max_uses=1)
            with benchlib.stopwatch() as step, transaction.atomic(), writer as write:
                write(fresh)
            steps.append((start, step[0]))
    print(f"\nfilled the codes table with {existing:,} codes in {took[0]:.1f} s "
          f"(generating, sorting and one COPY/INSERT per {FILL_STEP:,}); the write of each step:")  # fmt: skip
    print("  ".join(f"{start // FILL_STEP}M: {seconds:.2f} s" for start, seconds in steps))
    if _on_postgres():
        print(_index_sizes())


def _plain_batch(offer: Offer, count: int, tag: str) -> Batch:
    from tessera.vouchers.models import Batch

    return Batch.objects.create(offer=offer, count=count, country="DE", tag=tag)


def _index_sizes() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "WHERE c.relname IN ('vouchers_code', 'vouchers_code_pkey', 'vouchers_code_batch_code') ORDER BY 1"
        )
        sizes = cursor.fetchall()
    return "sizes: " + ", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in sizes)


# --- one round ------------------------------------------------------------------------------------


def _round(offer: Offer, count: int, number: int) -> Round:
    from tessera.vouchers import codes as codebook
    from tessera.vouchers.models import Code

    raw_codes = sorted(codebook.generate(count))  # outside the clock: raw COPY times writing only
    bare = _time(lambda: _bare_insert(raw_codes))
    raw_first = number % 2 == 0
    if raw_first:
        raw_rows_before = Code.objects.count()
        raw, raw_counters = _raw_copy(offer, raw_codes)
    batch = _timed_batch_create(offer, count)
    if not raw_first:
        raw_rows_before = Code.objects.count()
        raw, raw_counters = _raw_copy(offer, raw_codes)
    done = Round(number, raw_first, batch, raw, raw_rows_before, raw_counters, bare)
    print(f"round {number}: batch_create {batch.total:.2f} s, raw COPY {raw:.2f} s "
          f"({'raw first' if raw_first else 'batch_create first'}), ratio {done.ratio:.2f}; "
          f"bare {bare:.2f} s; {_load()}", flush=True)  # fmt: skip
    return done


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _timed_batch_create(offer: Offer, count: int) -> BatchRun:
    from tessera.vouchers.models import Code
    from tessera.vouchers.services import BatchSpec, batch_create

    run = BatchRun(rows_before=Code.objects.count(), total=0.0)
    with _counting() as counted, _split_recorder(run) as progress, benchlib.stopwatch() as took:
        batch = batch_create(
            offer=offer, spec=BatchSpec(count=count, country="DE", tag="bench"), actor="bench", progress=progress
        )
    run.total = took[0]
    run.counters = counted
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


# --- PostgreSQL's own counters -------------------------------------------------------------------


@contextmanager
def _counting() -> Iterator[Counters]:
    """Counters filled in with the difference of PostgreSQL's statistics across the block."""
    counted = Counters()
    if not _on_postgres():
        yield counted
        return
    before = _pg_counters()
    yield counted
    after = _pg_counters()
    counted.wal_mb = (after["wal_bytes"] - before["wal_bytes"]) / 2**20
    counted.fpi = int(after["wal_fpi"] - before["wal_fpi"])
    counted.backend_writes = int(after["buffers_backend"] - before["buffers_backend"])
    counted.checkpoints = int(after["checkpoints"] - before["checkpoints"])
    counted.pkey_reads = int(after["pkey_read"] - before["pkey_read"])
    counted.pkey_hits = int(after["pkey_hit"] - before["pkey_hit"])


def _pg_counters() -> dict[str, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # this session's counts, flushed once idle
        cursor.execute(
            "SELECT w.wal_bytes, w.wal_fpi, b.buffers_backend, b.checkpoints_timed + b.checkpoints_req, "
            "coalesce(i.idx_blks_read, 0), coalesce(i.idx_blks_hit, 0) "
            "FROM pg_stat_wal w, pg_stat_bgwriter b "
            "LEFT JOIN pg_statio_user_indexes i ON i.indexrelname = 'vouchers_code_pkey'"
        )
        row = cursor.fetchone()
    names = ("wal_bytes", "wal_fpi", "buffers_backend", "checkpoints", "pkey_read", "pkey_hit")
    return {name: float(value) for name, value in zip(names, row, strict=True)}


# --- the baselines -----------------------------------------------------------------------------


def _raw_copy(offer: Offer, codes: Sequence[str]) -> tuple[float, Counters]:
    """The same number of codes into the real codes table, as a batch of their own, by one COPY
    (PostgreSQL) or one executemany (SQLite) in one transaction, committed: nothing of Tessera's."""
    from django.db import transaction

    from tessera.vouchers.models import Code

    batch = _plain_batch(offer, len(codes), "raw-copy")
    table = Code._meta.db_table
    row_end = f"\t{batch.pk}\t0\t1\n"
    payload = row_end.join(codes) + row_end  # outside the clock too
    with _counting() as counted, benchlib.stopwatch() as took, transaction.atomic():
        if _on_postgres():
            _copy(table, payload)
        else:
            _executemany(table, codes, batch.pk)
    return took[0], counted


def _bare_insert(codes: Sequence[str]) -> None:
    """The same rows into a table with no index and no constraint, in one transaction."""
    from django.db import transaction

    _create_bare_table()
    row_end = "\t1\t0\t1\n"
    payload = row_end.join(codes) + row_end
    with transaction.atomic():
        if _on_postgres():
            _copy(BARE_TABLE, payload)
        else:
            _executemany(BARE_TABLE, codes, 1)


def _create_bare_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BARE_TABLE} (code varchar(31), batch_id bigint, uses integer, "
            "max_uses integer, revoked_at timestamp)"
        )


def _copy(table: str, payload: str) -> None:
    from django.db import connection

    statement = f"COPY {table} (code, batch_id, uses, max_uses) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(payload)


def _executemany(table: str, codes: Sequence[str], batch_id: int) -> None:
    from django.db import connection

    statement = f"INSERT INTO {table} (code, batch_id, uses, max_uses) VALUES (%s, %s, %s, %s)"
    with connection.cursor() as cursor:
        cursor.executemany(statement, [(code, batch_id, 0, 1) for code in codes])


def _bulk_create(offer: Offer, codes: Sequence[str]) -> None:
    """What the obvious ORM code costs: Code objects, bulk_create, one transaction, new batch."""
    from django.db import transaction

    from tessera.vouchers.models import Code

    batch = _plain_batch(offer, len(codes), "bulk-create")
    with transaction.atomic():
        objects = (Code(code=code, batch_id=batch.pk) for code in codes)
        Code.objects.bulk_create(objects, batch_size=5000)


def _bulk_create_rows_per_statement() -> int:
    from django.db import connection

    from tessera.vouchers.models import Code

    fields = Code._meta.concrete_fields
    return min(5000, connection.ops.bulk_batch_size(fields, [None] * 5000))


# --- which index costs what (PostgreSQL, --split) -------------------------------------------------


SPLIT_CASES = (
    ("no index, no primary key", ("vouchers_code_batch_code", "pkey"), ""),
    ("primary key only", ("vouchers_code_batch_code",), ""),
    ("(batch_id, code) index only", ("pkey",), ""),
    ("all indexes (as the table is)", (), ""),
    ("all indexes, codes share 2 leading symbols", (), "B7"),
)


def _print_split_by_index(offer: Offer, count: int) -> None:
    from tessera.vouchers import codes as codebook
    from tessera.vouchers.models import Code

    rows = []
    batch = _plain_batch(offer, count, "split")
    for name, left_out, prefix in SPLIT_CASES:
        codes = sorted(codebook.generate(count, prefix=prefix))
        row_end = f"\t{batch.pk}\t0\t1\n"
        payload = row_end.join(codes) + row_end
        rows_before = Code.objects.count()
        seconds, counted = _rolled_back_copy(payload, left_out)
        rows.append([name, f"{rows_before:,}", f"{seconds:.2f}", *_counter_cells(counted)])
    print(f"\nOne COPY of {count:,} sorted codes into the codes table with parts of it left out "
          "(each in a transaction that drops them, copies, and rolls back; no commit)")  # fmt: skip
    print(benchlib.table(["case", "rows before", "seconds", *COUNTER_HEADERS], rows))


def _rolled_back_copy(payload: str, left_out: Sequence[str]) -> tuple[float, Counters]:
    from django.db import connection, transaction

    from tessera.vouchers.models import Code

    table = Code._meta.db_table
    with _counting() as counted, transaction.atomic(), connection.cursor() as cursor:
        for index in left_out:
            if index == "pkey":
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey CASCADE")  # rolled back
            else:
                cursor.execute(f"DROP INDEX {index}")
        with benchlib.stopwatch() as took:
            _copy(table, payload)
            cursor.execute("SELECT 1")  # the COPY is done server-side once this answers
        transaction.set_rollback(True)
    return took[0], counted


# --- the report ---------------------------------------------------------------------------------

COUNTER_HEADERS = ["WAL MB", "full pages", "backend writes", "pkey blks read", "pkey blks hit", "checkpoints"]


def _counter_cells(counted: Counters) -> list[str]:
    return [f"{counted.wal_mb:,.0f}", f"{counted.fpi:,}", f"{counted.backend_writes:,}",
            f"{counted.pkey_reads:,}", f"{counted.pkey_hits:,}", f"{counted.checkpoints}"]  # fmt: skip


def _print_results(count: int, generation_alone: list[float], sorting_alone: float, rounds: list[Round]) -> None:
    raw_name = "raw COPY" if _on_postgres() else "raw executemany"
    runs = [one.batch for one in rounds]
    totals = [run.total for run in runs]
    best, middle = min(totals), benchlib.median(totals)
    raw_median = benchlib.median([one.raw for one in rounds])
    bare_median = benchlib.median([one.bare for one in rounds])
    ratio_median = benchlib.median([one.ratio for one in rounds])
    print()
    print(f"{len(rounds)} rounds: batch_create and {raw_name} of {count:,} codes each, into the codes table "
          "(a fresh batch each; the table grows by two batches a round)")  # fmt: skip
    print(_rounds_table(count, rounds, raw_name))
    print()
    print(f"batch_create: median {middle:.2f} s (best {best:.2f} s); {raw_name} into the same table: "
          f"median {raw_median:.2f} s; bare table: median {bare_median:.2f} s")  # fmt: skip
    print(f"batch_create / {raw_name}: median of the rounds' ratios "
          f"{ratio_median:.2f}, ratio of the medians {middle / raw_median:.2f}")  # fmt: skip
    if _on_postgres():
        print()
        print("What PostgreSQL counted during each timed write")
        print(_counters_table(rounds))
    print()
    print(_split_table(generation_alone, sorting_alone, runs))
    print()
    print(_verdict(count, best, middle))


def _rounds_table(count: int, rounds: list[Round], raw_name: str) -> str:
    rows = [
        [f"#{one.number}", f"{one.batch.rows_before:,}", f"{one.batch.total:.2f}", f"{count / one.batch.total:,.0f}",
         f"{one.batch.generation:.2f}", f"{one.batch.writing:.2f}", f"{one.batch.finishing:.2f}",
         f"{one.raw:.2f}", "raw" if one.raw_first else "batch", f"{one.ratio:.2f}", f"{one.bare:.2f}"]
        for one in rounds
    ]  # fmt: skip
    headers = ["round", "rows before", "batch_create s", "codes/s", "generate s", "write chunks s",
               "commit+rest s", f"{raw_name} s", "first", "ratio", "bare s"]  # fmt: skip
    note = ("(generate s: codes.generate inside batch_create; write chunks s: from its return to "
            "the last chunk written, so it includes sorting; commit+rest s: validation, batch row, "
            "end of the COPY, audit event, commit; ratio: batch_create / "
            f"{raw_name} of the round; bare s: {raw_name} of the round's codes into a bare table)")  # fmt: skip
    return benchlib.table(headers, rows) + "\n" + note


def _counters_table(rounds: list[Round]) -> str:
    rows = []
    for one in rounds:
        rows.append([f"#{one.number} batch_create", f"{one.batch.total:.2f}", *_counter_cells(one.batch.counters)])
        rows.append([f"#{one.number} raw COPY", f"{one.raw:.2f}", *_counter_cells(one.raw_counters)])
    return benchlib.table(["write", "seconds", *COUNTER_HEADERS], rows)


def _verdict(count: int, best: float, middle: float) -> str:
    """Judged on the median run: one lucky run out of several does not make the target."""
    if middle <= TARGET_SECONDS:
        verdict = "met"
    elif best <= TARGET_SECONDS:
        verdict = "not met (only the best run is within it)"
    else:
        verdict = "not met"
    return (f"target: batch_create of {count:,} codes in <= {TARGET_SECONDS:.0f} s (median run): "
            f"best {best:.2f} s, median {middle:.2f} s -> {verdict}")  # fmt: skip


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
        ("inside batch_create: batch row, end of COPY, audit, commit", finishing),
        ("for reference: sorted() of N codes alone", sorting_alone),
    ]
    rows = [[name, f"{seconds:.2f}", _share(seconds, middle_total)] for name, seconds in parts]
    title = "Split of batch_create's median time (each part a median over the runs)\n"
    return title + benchlib.table(["part", "seconds", "share"], rows)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%"


if __name__ == "__main__":
    sys.exit(main())
