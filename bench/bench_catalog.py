"""How long a platform's catalog import of 10,000 sessions takes, through the service and over HTTP.

Per run, on a fresh platform (the tables keep the earlier runs' rows, so they grow each run):
  * create, service: tessera.platforms.catalog_import.catalog_import of 1,000 courses and 10,000
    sessions, none of them known yet: checks, reads, slugs, bulk INSERTs, one audit row each;
  * unchanged: the same import again: checks, reads and the comparison, no write at all;
  * change all: every session's title and capacity changed: INSERT ... ON CONFLICT (id) DO UPDATE
    and an audit row per session;
  * create, HTTP: the same 10,000 new sessions (another fresh platform) as one
    `POST /api/v1/platform/catalog:import` through Django's test client with a platform's access
    token: JSON parsing, request validation, the service and the answer. The JSON body (about
    2.6 MB) is built before the clock starts.
Each timing is one import's wall time; the statements column counts the SQL statements it sent.
The target (10,000 sessions in under 10 s) is judged on the median run of "create, HTTP".

    .venv/bin/python bench/bench_catalog.py --db both [--sessions 10000] [--courses 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from tessera.platforms.catalog_import import CourseRow, SessionRow
    from tessera.platforms.models import Platform

TARGET_SECONDS = 10.0
SCENARIOS = ("create, service", "unchanged", "change all", "create, HTTP")
IMPORT_URL = "/api/v1/platform/catalog:import"


@dataclass
class Timed:
    seconds: float
    statements: int


@dataclass
class Run:
    sessions_before: int
    timings: dict[str, Timed] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions per import")
    parser.add_argument("--courses", type=int, default=1_000, help="courses per import")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on fresh platforms")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    os.environ["TESSERA_DEBUG"] = "false"  # as served: no query log kept in memory
    benchlib.setup_django(args.db)
    return run(args.sessions, args.courses, args.repeat)


def run(sessions: int, courses: int, repeat: int) -> int:
    benchlib.banner(f"bench_catalog: {sessions:,} sessions of {courses:,} courses on {benchlib.database_label()}")
    course_rows, session_rows = catalog(sessions, courses)
    body = json.dumps(import_body(course_rows, session_rows))
    print(f"import body: {len(body):,} bytes of JSON")
    runs = [_one_run(number, course_rows, session_rows, body) for number in range(1, repeat + 1)]
    print()
    print(_runs_table(runs))
    print()
    print(_medians_table(runs, sessions))
    print()
    return _verdict(runs, sessions)


# --- the catalog ---------------------------------------------------------------------------------


def catalog(sessions: int, courses: int) -> tuple[list[CourseRow], list[SessionRow]]:
    """Courses c0000..; sessions s00000.., spread over the courses, with varied settings."""
    from tessera.platforms.catalog import CourseFields, SessionFields
    from tessera.platforms.catalog_import import CourseRow, SessionRow

    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    course_rows = [
        CourseRow(f"c{n:04d}", CourseFields(f"Course {n}", f"What course {n} is about.")) for n in range(courses)
    ]
    session_rows = []
    for n in range(sessions):
        starts = start + timedelta(days=n % 365)
        fields = SessionFields(
            title=f"Run {n}", starts_at=starts, ends_at=starts + timedelta(weeks=8),
            enrollment_closes_at=starts + timedelta(weeks=2), capacity=None if n % 4 else 200,
            offers_proctored_certificate=n % 3 == 0, reactivation_enabled=n % 2 == 0,
            reactivation_weeks=None if n % 5 else 12,
        )  # fmt: skip
        session_rows.append(SessionRow(f"s{n:05d}", f"c{n % courses:04d}", fields))
    return course_rows, session_rows


def import_body(courses: list[CourseRow], sessions: list[SessionRow]) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "courses": [{"external_id": row.external_id, "title": row.course.title, "description": row.course.description}
                    for row in courses],
        "sessions": [
            {"external_id": row.external_id, "course": row.course, "title": row.session.title,
             "starts_at": moment(row.session.starts_at), "ends_at": moment(row.session.ends_at),
             "enrollment_closes_at": moment(row.session.enrollment_closes_at), "capacity": row.session.capacity,
             "offers_proctored_certificate": row.session.offers_proctored_certificate,
             "reactivation_enabled": row.session.reactivation_enabled,
             "reactivation_weeks": row.session.reactivation_weeks}
            for row in sessions
        ],
    }  # fmt: skip


def fresh_platform(name: str) -> tuple[Platform, str]:
    """A platform and an access token of its with the catalog scope (made as the token endpoint
    makes one: kept as its checksum)."""
    import secrets

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from tessera.platforms.services import platform_create

    platform = platform_create(name=name, slug=name).platform
    token = secrets.token_urlsafe(30)
    AccessToken.objects.create(application=platform.application, token=token, scope="catalog",
                               expires=timezone.now() + timedelta(hours=1))  # fmt: skip
    return platform, token


# --- one run ---------------------------------------------------------------------------------------


def _one_run(number: int, courses: list[CourseRow], sessions: list[SessionRow], body: str) -> Run:
    from django.test import Client

    from tessera.catalog.models import CourseSession
    from tessera.platforms.catalog_import import catalog_import

    platform, _ = fresh_platform(f"bench-{number}")
    _, token = fresh_platform(f"bench-{number}-http")
    result = Run(sessions_before=CourseSession.objects.count())

    def service(rows: list[SessionRow]) -> Callable[[], object]:
        return lambda: catalog_import(platform=platform, courses=courses, sessions=rows, actor=platform.actor)

    changed = [replace(row, session=replace(row.session, title=f"{row.session.title}, again", capacity=50))
               for row in sessions]  # fmt: skip
    result.timings["create, service"] = _timed(service(sessions), expect_created=len(sessions))
    result.timings["unchanged"] = _timed(service(sessions), expect_created=0)
    result.timings["change all"] = _timed(service(changed), expect_created=0)
    client = Client()
    result.timings["create, HTTP"] = _timed(lambda: _post(client, body, token), expect_created=len(sessions))
    line = ", ".join(f"{name} {timed.seconds:.2f} s" for name, timed in result.timings.items())
    print(f"run {number}: {line}", flush=True)
    return result


def _post(client: Any, body: str, token: str) -> object:
    response = client.post(IMPORT_URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    if response.status_code != 200:
        raise SystemExit(f"the import answered {response.status_code}: {response.content[:500]!r}")
    return response.json()


def _timed(work: Callable[[], object], *, expect_created: int) -> Timed:
    from tessera.catalog.models import CourseSession

    before = CourseSession.objects.count()
    with _statements_counted() as counted, benchlib.stopwatch() as took:
        work()
    created = CourseSession.objects.count() - before
    if created != expect_created:
        raise SystemExit(f"the import created {created:,} sessions, not {expect_created:,}")
    return Timed(seconds=took[0], statements=counted[0])


@contextmanager
def _statements_counted() -> Iterator[list[int]]:
    from django.db import connection

    counted = [0]

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted


# --- printing ------------------------------------------------------------------------------------


def _runs_table(runs: list[Run]) -> str:
    headers = ["run", "sessions before", *[f"{name} s" for name in SCENARIOS]]
    rows = [
        [f"#{number}", f"{run.sessions_before:,}", *[f"{run.timings[name].seconds:.2f}" for name in SCENARIOS]]
        for number, run in enumerate(runs, start=1)
    ]
    return "Each run on fresh platforms\n" + benchlib.table(headers, rows)


def _medians_table(runs: list[Run], sessions: int) -> str:
    rows = []
    for name in SCENARIOS:
        seconds = benchlib.median([run.timings[name].seconds for run in runs])
        statements = benchlib.median([run.timings[name].statements for run in runs])
        rows.append([name, f"{seconds:.2f}", f"{sessions / seconds:,.0f}", f"{statements:,.0f}"])
    title = f"Median of {len(runs)} runs (statements: SQL statements the import sent, median)\n"
    return title + benchlib.table(["import", "seconds", "sessions/s", "statements"], rows)


def _verdict(runs: list[Run], sessions: int) -> int:
    """Judged on the median HTTP run: one lucky run out of three does not make the target."""
    http = [run.timings["create, HTTP"].seconds for run in runs]
    best, middle = min(http), benchlib.median(http)
    met = middle < TARGET_SECONDS
    print(f"target: an import of {sessions:,} new sessions over HTTP in < {TARGET_SECONDS:.0f} s (median run): "
          f"best {best:.2f} s, median {middle:.2f} s -> {'met' if met else 'not met'}")  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
