"""Shared plumbing for the benchmarks: a throw-away database, Django setup, fixtures, tables.

The benchmarks never touch the dev database (var/tessera.sqlite3) or the test databases: SQLite
runs on var/bench/bench.sqlite3 and PostgreSQL on its own database, `tessera_bench`, both wiped
and migrated at the start of every run. Django's settings are read once per process, so
`--db both` runs each database in a child process of the same script.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Django models are importable only after django.setup()
    from tessera.catalog.models import CourseSession
    from tessera.vouchers.models import Offer

REPO = Path(__file__).resolve().parent.parent
BENCH_VAR = REPO / "var" / "bench"
SQLITE_PATH = BENCH_VAR / "bench.sqlite3"
PG_SERVER = os.environ.get("TESSERA_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_BENCH_DB = "tessera_bench"
DATABASES = ("sqlite", "postgres")


def parse_args(description: str, add_arguments: Callable[[argparse.ArgumentParser], None]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=(*DATABASES, "both"), default="both")
    add_arguments(parser)
    return parser.parse_args()


def run_each_database_in_a_child() -> int:
    """Runs this script again once per database (same arguments, --db changed); worst exit code."""
    worst = 0
    for db in DATABASES:
        argv = _replace_db_argument(sys.argv[1:], db)
        done = subprocess.run([sys.executable, sys.argv[0], *argv], check=False)  # noqa: S603
        worst = max(worst, done.returncode)
        print(flush=True)
    return worst


def _replace_db_argument(argv: list[str], db: str) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for argument in argv:
        if skip_next:
            skip_next = False
        elif argument == "--db":
            skip_next = True
        elif not argument.startswith("--db="):
            kept.append(argument)
    return [*kept, "--db", db]


# --- the throw-away database --------------------------------------------------------------------


def setup_django(db: str, *, pg_database: str = PG_BENCH_DB, recreate: bool = True) -> None:
    """Points settings at a fresh bench database (or, recreate=False on PostgreSQL, the one of
    that name if it exists), then sets Django up and migrates it.

    Everything here must happen before django.setup(): settings read the environment once.
    This checkout's src/ goes first on the path: the shared virtualenv's `tessera` may be another
    checkout's, and source_fingerprint() describes this one.
    """
    if str(REPO / "src") not in sys.path[:1]:
        sys.path.insert(0, str(REPO / "src"))
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tessera.settings"
    # Keeps settings' own files (the secret key) in var/bench too, away from the dev var/.
    os.environ["TESSERA_VAR_DIR"] = str(BENCH_VAR)
    os.environ["TESSERA_SECRET_KEY"] = os.urandom(16).hex()
    os.environ["TESSERA_LOG_LEVEL"] = "WARNING"
    if db == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        os.environ["TESSERA_SQLITE_PATH"] = str(SQLITE_PATH)
        _recreate_sqlite_file()
    else:
        os.environ["DATABASE_URL"] = f"{PG_SERVER}/{pg_database}"
        if recreate or not _postgres_database_exists(pg_database):
            _recreate_postgres_database(pg_database)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _recreate_sqlite_file() -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)


def _recreate_postgres_database(name: str) -> None:
    drop_postgres_database(name)
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")


def _postgres_database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def drop_postgres_database(name: str) -> None:
    """Drops a bench database, ending any session still connected to it."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_label() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            (version,) = cursor.fetchone()
        return f"PostgreSQL {version} (database {connection.settings_dict['NAME']})"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version} ({SQLITE_PATH.relative_to(REPO)}, WAL, IMMEDIATE)"


# --- catalog and voucher fixtures, as tests/conftest.py builds them ------------------------------


def running_session(slug: str = "bench-2026") -> CourseSession:
    """Running, enrollment open, unlimited capacity: nothing but the code itself can refuse."""
    from django.utils import timezone

    from tessera.catalog.models import Course, CourseSession

    now = timezone.now()
    course, _ = Course.objects.get_or_create(slug="bench", defaults={"title": "Benchmark course"})
    return CourseSession.objects.create(
        course=course, slug=slug, state=CourseSession.State.ACTIVE, capacity=None,
        starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7),
        reactivation_enabled=False, offers_proctored_certificate=False,
    )  # fmt: skip


def enrollment_offer(session: CourseSession) -> Offer:
    from tessera.vouchers.models import Product
    from tessera.vouchers.services import offer_create

    return offer_create(name="Benchmark enrollment", product=Product.ENROLLMENT, session=session)


# --- timing and printing ------------------------------------------------------------------------


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as took:` ... then took[0] holds the seconds."""
    took: list[float] = []
    started = time.perf_counter()
    try:
        yield took
    finally:
        took.append(time.perf_counter() - started)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    columns = range(len(headers))
    numeric = [all(_looks_numeric(row[column]) for row in cells[1:]) for column in columns]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("x", "").replace("%", "").strip()
    return stripped.isdigit()


def banner(title: str) -> None:
    print(title)
    print("=" * len(title))
    print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {source_fingerprint()}")


def source_fingerprint() -> str:
    """Which src/ was measured: others edit it while benchmarks run, and there is no commit to
    name, so a hash of every source file and the newest modification time stand in for one."""
    files = sorted((REPO / "src" / "tessera").rglob("*.py"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    newest = datetime.fromtimestamp(max(path.stat().st_mtime for path in files), UTC)
    return f"src/tessera sha256 {digest.hexdigest()[:12]}, newest file {newest:%Y-%m-%d %H:%M:%S} UTC"
