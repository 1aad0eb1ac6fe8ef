"""Server time of every Tessera web page with 1,000,000 codes in one batch.

Each page is requested in-process through Django's test client: the real URL routing,
middleware, session and templates, DEBUG off, signed in as a browser would be. Each request
starts as a server's does (close_old_connections: on PostgreSQL a connection health check before
the first statement, on SQLite a new connection). `--warm-up` requests, then `--repeat` on the
clock: wall time from the request to the complete answer; the CSV exports are timed to their
first 100 rows, not the whole file. Three more requests per page, off the clock, count its SQL
statements (CaptureQueriesContext) and time each statement; the slowest is named. The slowest
statement of every page over the target is shown with EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL,
EXPLAIN QUERY PLAN on SQLite (--explain: for every page).

Data, seeded before the clock (see `seed`): 6 courses with a running and an ended session each;
17 offers; one batch of 1,000,000 single-use codes written the way "Create codes" writes a large
batch (batch_job_create, then batch_job_run), 15 smaller batches (one of 50 codes with 100 uses
each, one restricted to a learner, one expired, one revoked) and a job still queued; 500 learners
with 8 enrollments each; about 4,600 redemptions (enrollment, proctoring, reactivation), 3% of
them reversed, written directly in bulk with their times spread over the last 90 days, and each
code's `uses` set to its live redemptions. Then VACUUM ANALYZE (PostgreSQL; what autovacuum does
after such a load) or ANALYZE (SQLite).

Runs on its own databases: PostgreSQL `tessera_bench_pages`, SQLite var/bench/pages.sqlite3,
both made afresh at the start and removed at the end (unless --keep-database).

    .venv/bin/python bench/bench_pages.py --db both [--repeat 30] [--warm-up 3] [--codes 1000000]
        [--only batch] [--explain] [--keep-database]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http.response import HttpResponseBase
    from django.test import Client

    from tessera.catalog.models import CourseSession
    from tessera.vouchers.models import Batch, Offer

PG_DATABASE = "tessera_bench_pages"
# Its own SQLite file, so it never shares one with bench_batch or bench_redeem running alongside.
SQLITE_PATH = benchlib.BENCH_VAR / "pages.sqlite3"
TARGET_MS = 200.0
COURSES = 6
LEARNERS = 500
ENROLLMENTS_PER_LEARNER = 8
REVERSED_SHARE = 0.03
HISTORY_DAYS = 90
CSV_ROWS = 100  # the export is timed to this many rows after its header
CAPTURED_RUNS = 3
LAST_CURSOR = "Z" * 31  # every code sorts below it: ?before= this is the batch's last page
SEED = 20261123


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    who: str  # "learner", "staff" or "anonymous"
    expect: str  # text the answer must hold (the Location header for a redirect)
    status: int = 200
    csv: bool = False


@dataclass
class Measured:
    page: Page
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # this process's CPU: Django and the driver
    queries: int = 0
    sql_ms: float = 0.0  # all statements of one request, in the database call
    slowest_ms: float = 0.0
    slowest_sql: str = ""
    slowest_params: Any = None

    def ms(self, fraction: float) -> float:
        return 1000 * benchlib.percentile(sorted(self.seconds), fraction)

    @property
    def median_ms(self) -> float:
        return 1000 * benchlib.median(self.seconds)

    @property
    def max_ms(self) -> float:
        return 1000 * max(self.seconds)

    @property
    def cpu_ms(self) -> float:
        return 1000 * benchlib.median(self.cpu_seconds)


@dataclass
class Seeded:
    """What the pages are about, and what was written."""

    staff: User
    learner: User
    session_slug: str
    big_offer: Offer
    big_batch: Batch
    big_job_id: int
    middle_cursor: str  # the code halfway through the big batch, in code order
    next_after_middle: str
    first_code: str
    last_code: str
    search_code: str
    first_used_code: str
    single_code: str  # a single-use code of the big batch with one redemption
    multi_code: str  # the multi-use code with the most redemptions
    multi_redemptions: int
    counts: dict[str, int] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warm-up", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--codes", type=int, default=1_000_000, help="codes in the big batch")
    parser.add_argument("--only", default="", help="measure only pages whose name holds this text")
    parser.add_argument("--explain", action="store_true", help="show the slowest statement's plan for every page")
    parser.add_argument("--keep-database", action="store_true", help="leave the bench database in place")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    os.environ["TESSERA_DEBUG"] = "false"  # as served; settings read it once, in setup_django
    benchlib.SQLITE_PATH = SQLITE_PATH  # benchlib's SQLite helpers read the path from here
    benchlib.setup_django(args.db, pg_database=PG_DATABASE)
    try:
        return run(args)
    finally:
        if not args.keep_database:
            _remove_database(args.db)


def run(args: argparse.Namespace) -> int:
    benchlib.banner(f"bench_pages: every web page's server time on {benchlib.database_label()}")
    with benchlib.stopwatch() as seeding:
        seeded = seed(args.codes)
    with benchlib.stopwatch() as analyzing:
        _analyze()
    _print_seeded(seeded, seeding[0], analyzing[0])
    pages = [page for page in pages_of(seeded) if args.only in page.name]
    if not pages:
        raise SystemExit(f"no page's name holds {args.only!r}")
    clients = _clients(seeded)
    print(f"load average before: {_load()}; {args.warm_up} warm-up + {args.repeat} timed rounds of every page")
    results = _measure(pages, clients, args.warm_up, args.repeat)
    print(f"load average after: {_load()}")
    print()
    print(_results_table(results))
    print()
    print(_slowest_table(results))
    over = [result for result in results if result.ms(0.95) > TARGET_MS]
    _explain([result for result in results if args.explain or result in over])
    _cursor_check([result for result in results if result.page.csv])
    print()
    return _verdict(results, over)


# --- the data ----------------------------------------------------------------------------------


def seed(big_count: int) -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Permission, User

    from tessera.vouchers.permissions import MANAGE_VOUCHERS_CODENAME

    rng = random.Random(SEED)
    now = _now()
    staff = User.objects.create_user("manager", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename=MANAGE_VOUCHERS_CODENAME))
    running, ended = _catalog(now)
    offers = _offers(running, ended)
    unusable = make_password(None)  # learners are signed in with force_login, never a password
    learners = User.objects.bulk_create(User(username=f"learner{n:03d}", password=unusable) for n in range(LEARNERS))
    batches = _batches(offers, now, big_count, learners[0])
    big_codes = _codes_of(batches["big"])
    counts = _history(rng, now, learners, running, ended, batches, big_codes)
    return _seeded(staff, learners, running[0], offers, batches, big_codes, counts)


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _catalog(now: datetime) -> tuple[list[CourseSession], list[CourseSession]]:
    """A running and an ended session per course; the first three running ones offer proctoring."""
    from tessera.catalog.models import Course, CourseSession, Exam

    running, ended = [], []
    for number in range(COURSES):
        course = Course.objects.create(slug=f"course-{number}", title=f"Course {number}: Data and Society")
        running.append(CourseSession.objects.create(
            course=course, slug=f"course-{number}-2026", title="Spring 2026", state=CourseSession.State.ACTIVE,
            starts_at=now - timedelta(weeks=4), ends_at=now + timedelta(weeks=8), reactivation_enabled=True,
            offers_proctored_certificate=number < 3,
        ))  # fmt: skip
        ended.append(CourseSession.objects.create(
            course=course, slug=f"course-{number}-2025", title="Autumn 2025", state=CourseSession.State.ARCHIVED,
            starts_at=now - timedelta(weeks=20), ends_at=now - timedelta(weeks=2), reactivation_enabled=True,
        ))  # fmt: skip
        if number < 3:
            Exam.objects.create(session=running[-1], title="Final exam", proctored=True,
                                submission_deadline=now + timedelta(weeks=7))  # fmt: skip
    return running, ended


def _offers(running: list[CourseSession], ended: list[CourseSession]) -> dict[str, Any]:
    from tessera.vouchers.models import Product
    from tessera.vouchers.services import offer_create

    enrollment, proctoring, reactivation = Product.ENROLLMENT, Product.PROCTORING, Product.REACTIVATION
    offers: dict[str, Any] = {
        "big": offer_create(name="Enrollment, any course (campaign)", product=enrollment),
        "reactivation": offer_create(name="Reactivation, any course", product=reactivation),
        "enrollment": [offer_create(name=f"Enrollment: {s.slug}", product=enrollment, session=s) for s in running],
        "proctoring": [
            offer_create(name=f"Proctoring: {s.slug}", product=proctoring, session=s)
            for s in running
            if s.offers_proctored_certificate
        ],
    }
    for session in ended:  # offers of past sessions, without batches: the list is not only batches
        offer_create(name=f"Enrollment: {session.slug}", product=enrollment, session=session)
    return offers


def _batches(offers: dict[str, Any], now: datetime, big_count: int, learner: User) -> dict[str, Any]:
    from tessera.vouchers.models import Batch
    from tessera.vouchers.services import BatchSpec, batch_create, batch_job_create, batch_job_run, batch_revoke

    def create(offer: Offer, count: int, tag: str, **options: Any) -> Batch:
        return batch_create(offer=offer, spec=BatchSpec(count=count, country="DE", tag=tag, **options), actor="manager")

    big_job = batch_job_create(
        offer=offers["big"], spec=BatchSpec(count=big_count, country="DE", tag="campaign"), actor="manager"
    )
    big_job = batch_job_run(job_id=big_job.pk)
    batches: dict[str, Any] = {"big": big_job.batch, "big_job_id": big_job.pk}
    batches["fair"] = create(offers["big"], 20_000, "fair")
    batches["restricted"] = create(offers["big"], 5, "personal", restricted_to=learner)
    batch_job_create(
        offer=offers["big"], spec=BatchSpec(count=50_000, country="DE", tag="queued"), actor="manager"
    )  # never run
    batches["enrollment"] = [create(offer, 2_000, f"partner-{n}") for n, offer in enumerate(offers["enrollment"])]
    batches["multi"] = create(offers["enrollment"][0], 50, "classroom", uses_per_code=100)
    batches["proctoring"] = [create(offer, 3_000, "proctoring") for offer in offers["proctoring"]]
    batches["reactivation"] = create(offers["reactivation"], 1_000, "reactivation")
    expired = create(offers["reactivation"], 500, "expired", expires_at=now + timedelta(days=1))
    Batch.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(days=10))
    batch_revoke(batch=create(offers["reactivation"], 500, "revoked"), actor="manager")
    return batches


def _codes_of(batch: Batch) -> list[str]:
    from tessera.vouchers.models import Code

    return list(Code.objects.filter(batch=batch).order_by("code").values_list("code", flat=True))


@dataclass
class History:
    """Redemptions and enrollments to write, and each code's live uses."""

    rng: random.Random
    now: datetime
    redemptions: list[Any] = field(default_factory=list)
    enrollments: list[Any] = field(default_factory=list)
    uses: Counter[str] = field(default_factory=Counter)

    def redeem(self, code: str, user: User, session: CourseSession, product: str) -> tuple[Any, bool]:
        from tessera.vouchers.models import Redemption

        at = self.now - timedelta(seconds=self.rng.uniform(60, HISTORY_DAYS * 86400))
        reversed_at = None
        if self.rng.random() < REVERSED_SHARE:
            reversed_at = min(self.now, at + timedelta(hours=self.rng.uniform(1, 240)))
        else:
            self.uses[code] += 1
        redemption = Redemption(
            code_id=code, user=user, session=session, product=product, redeemed_at=at,
            client_ip=f"203.0.113.{self.rng.randrange(1, 255)}", reversed_at=reversed_at,
            reversed_by="manager" if reversed_at else "",
        )  # fmt: skip
        self.redemptions.append(redemption)
        return redemption, reversed_at is None


def _history(
    rng: random.Random, now: datetime, learners: list[User], running: list[CourseSession],
    ended: list[CourseSession], batches: dict[str, Any], big_codes: list[str],
) -> dict[str, int]:  # fmt: skip
    """Each learner enrolls in 8 of the 12 sessions through a code; some book proctoring or
    reactivate an ended session with a second code."""
    from tessera.catalog.models import Enrollment
    from tessera.vouchers.models import Product

    history = History(rng=rng, now=now)
    spare = {
        "big": iter(rng.sample(big_codes, min(len(big_codes), LEARNERS * ENROLLMENTS_PER_LEARNER))),
        **{key: iter(_codes_of(batches[key])) for key in ("fair", "reactivation")},
        **{f"enrollment{n}": iter(_codes_of(b)) for n, b in enumerate(batches["enrollment"])},
        **{f"proctoring{n}": iter(_codes_of(b)) for n, b in enumerate(batches["proctoring"])},
    }
    multi = _codes_of(batches["multi"])
    for learner in learners:
        for session in rng.sample(running + ended, ENROLLMENTS_PER_LEARNER):
            index = running.index(session) if session in running else None
            code = _enrollment_code(rng, spare, multi, index)
            _, live = history.redeem(code, learner, session, Product.ENROLLMENT)
            enrollment = Enrollment(user=learner, session=session, active=live)
            history.enrollments.append(enrollment)
            if live and index is not None and index < len(batches["proctoring"]) and rng.random() < 0.3:
                enrollment.proctored = history.redeem(
                    next(spare[f"proctoring{index}"]), learner, session, Product.PROCTORING
                )[1]
            if live and index is None and rng.random() < 0.15:
                redemption, live = history.redeem(next(spare["reactivation"]), learner, session, Product.REACTIVATION)
                if live:
                    enrollment.reactivated_until = redemption.redeemed_at + session.reactivation_period
    return _write_history(history)


def _enrollment_code(rng: random.Random, spare: dict[str, Iterator[str]], multi: list[str], index: int | None) -> str:
    """Mostly a code of the big batch; in running sessions also their own offer's codes, and in
    the first one the multi-use codes (a few of them used often)."""
    draw = rng.random()
    if index == 0 and draw < 0.3:
        return multi[min(int(rng.expovariate(0.25)), len(multi) - 1)]
    if index is not None and draw < 0.55:
        return next(spare[f"enrollment{index}"])
    if draw > 0.95:
        return next(spare["fair"])
    return next(spare["big"])


def _write_history(history: History) -> dict[str, int]:
    from django.db import transaction

    from tessera.catalog.models import Enrollment
    from tessera.vouchers.models import Code, Redemption

    by_uses: dict[int, list[str]] = {}
    for code, uses in history.uses.items():
        by_uses.setdefault(uses, []).append(code)
    with transaction.atomic():
        Redemption.objects.bulk_create(history.redemptions, batch_size=1000)
        Enrollment.objects.bulk_create(history.enrollments, batch_size=1000)
        for uses, codes in by_uses.items():
            for start in range(0, len(codes), 500):
                Code.objects.filter(pk__in=codes[start : start + 500]).update(uses=uses)
    return {
        "redemptions": len(history.redemptions),
        "reversed": sum(1 for r in history.redemptions if r.reversed_at),
        "enrollments": len(history.enrollments),
        "codes used": len(history.uses),
    }


def _seeded(
    staff: User, learners: list[User], session: CourseSession, offers: dict[str, Any], batches: dict[str, Any],
    big_codes: list[str], counts: dict[str, int],
) -> Seeded:  # fmt: skip
    from django.db.models import Count

    from tessera.catalog.models import Enrollment
    from tessera.vouchers.models import Code, Redemption

    big = batches["big"]
    used = Code.objects.filter(batch=big, uses__gt=0).order_by("code").values_list("code", flat=True)
    single = Redemption.objects.filter(code__batch=big, reversed_at__isnull=True).order_by("code_id").first()
    multi = (
        Redemption.objects.filter(code__batch=batches["multi"]).values("code_id")
        .annotate(n=Count("pk")).order_by("-n", "code_id").first()
    )  # fmt: skip
    if single is None or multi is None:
        raise SystemExit("the seeded history has no redemption of the big batch or of the multi-use codes")
    learner_id = Enrollment.objects.filter(session=session).order_by("user_id").values_list("user_id", flat=True)[0]
    middle = len(big_codes) // 2
    totals = _totals()
    return Seeded(
        staff=staff, learner=next(user for user in learners if user.pk == learner_id), session_slug=session.slug,
        big_offer=offers["big"], big_batch=big, big_job_id=batches["big_job_id"], middle_cursor=big_codes[middle],
        next_after_middle=big_codes[middle + 1], first_code=big_codes[0], last_code=big_codes[-1],
        search_code=big_codes[len(big_codes) // 3], first_used_code=used[0], single_code=single.code_id,
        multi_code=multi["code_id"], multi_redemptions=multi["n"], counts={**totals, **counts},
    )  # fmt: skip


def _totals() -> dict[str, int]:
    from django.contrib.auth.models import User

    from tessera.catalog.models import CourseSession
    from tessera.vouchers.models import Batch, Code, Offer

    return {
        "codes": Code.objects.count(), "batches": Batch.objects.count(), "offers": Offer.objects.count(),
        "sessions": CourseSession.objects.count(), "users": User.objects.count(),
    }  # fmt: skip


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _print_seeded(seeded: Seeded, seconds: float, analyze_seconds: float) -> None:
    counts = ", ".join(f"{value:,} {name}" for name, value in seeded.counts.items())
    print(f"seeded in {seconds:.1f} s: {counts}")
    print(f"big batch {seeded.big_batch.pk}: {seeded.big_batch.count:,} codes; "
          f"multi-use code with {seeded.multi_redemptions} redemptions")  # fmt: skip
    print(f"{'VACUUM ANALYZE' if _on_postgres() else 'ANALYZE'} in {analyze_seconds:.1f} s")


def _on_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


# --- the pages ---------------------------------------------------------------------------------


def pages_of(seeded: Seeded) -> list[Page]:
    from tessera.vouchers.selectors.codes import display_code

    def shown(code: str) -> str:
        return display_code(code, seeded.big_batch.prefix)

    batch = f"/staff/batches/{seeded.big_batch.pk}"
    search = seeded.search_code
    return [
        Page("courses (anonymous)", "/courses", "anonymous", "Course 0"),
        Page("courses", "/courses", "learner", "Course 0"),
        Page("course session", f"/courses/{seeded.session_slug}", "learner", "voucher"),
        Page("dashboard", "/dashboard", "learner", seeded.session_slug),
        Page("staff offers", "/staff/offers", "staff", "Enrollment, any course"),
        Page("staff offer (1M batch)", f"/staff/offers/{seeded.big_offer.pk}", "staff", "Create codes"),
        Page("staff new offer form", "/staff/offers/new", "staff", "Spring 2026"),
        Page("batch: first page", batch, "staff", shown(seeded.first_code)),
        Page(
            "batch: middle, ?after=", f"{batch}?after={seeded.middle_cursor}", "staff", shown(seeded.next_after_middle)
        ),
        Page("batch: last page, ?before=", f"{batch}?before={LAST_CURSOR}", "staff", shown(seeded.last_code)),
        Page("batch: ?q= 4 symbols", f"{batch}?q={search[:4]}", "staff", shown(search)),
        Page("batch: ?q= 6 symbols", f"{batch}?q={search[:6]}", "staff", shown(search)),
        Page("batch: ?q= 2 symbols", f"{batch}?q={search[:2]}", "staff", f">{search[:2]}"),
        Page("batch: ?uses=used", f"{batch}?uses=used", "staff", shown(seeded.first_used_code)),
        Page("batch: ?uses=unused", f"{batch}?uses=unused", "staff", "Next codes"),
        Page("code, single-use", f"/staff/codes/{seeded.single_code}", "staff", "learner"),
        Page(f"code, {seeded.multi_redemptions} redemptions", f"/staff/codes/{seeded.multi_code}", "staff", "learner"),
        Page(
            "code query form (redirect)",
            f"/staff/codes?code={shown(seeded.single_code)}",
            "staff",
            f"/staff/codes/{seeded.single_code}",
            status=302,
        ),
        Page("stats (30 days)", "/staff/stats", "staff", "<svg"),
        Page("stats ?days=90", "/staff/stats?days=90", "staff", "<svg"),
        Page("stats ?days=365", "/staff/stats?days=365", "staff", "<svg"),
        Page("job (1M, done)", f"/staff/jobs/{seeded.big_job_id}", "staff", "Writing"),
        Page("job progress fragment", f"/staff/jobs/{seeded.big_job_id}/progress", "staff", "100"),
        Page("batch CSV, first 100 rows", f"{batch}/export.csv", "staff", shown(seeded.first_code), csv=True),
        Page(
            "offer CSV, first 100 rows",
            f"/staff/offers/{seeded.big_offer.pk}/export.csv",
            "staff",
            "code,batch",
            csv=True,
        ),
    ]


def _clients(seeded: Seeded) -> dict[str, Client]:
    from django.test import Client

    clients = {"anonymous": Client(), "learner": Client(), "staff": Client()}
    clients["learner"].force_login(seeded.learner)
    clients["staff"].force_login(seeded.staff)
    return clients


def _measure(pages: list[Page], clients: dict[str, Client], warm_up: int, repeat: int) -> list[Measured]:
    """Rounds over every page, so a burst of load from elsewhere on the machine spreads over all
    pages instead of landing on one; then the captured requests of each page."""
    results = [Measured(page) for page in pages]
    for _ in range(warm_up):
        for page in pages:
            _request(page, clients[page.who])
    for number in range(1, repeat + 1):
        for result in results:
            took, cpu = _request(result.page, clients[result.page.who])
            result.seconds.append(took)
            result.cpu_seconds.append(cpu)
        if number % 10 == 0:
            print(f"round {number} of {repeat} done; load average {_load()}", flush=True)
    for result in results:
        _capture(result, clients[result.page.who])
    return results


def _capture(result: Measured, client: Client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    runs = []
    for _ in range(CAPTURED_RUNS):
        with CaptureQueriesContext(connection) as captured, _statement_times() as timed:
            _request(result.page, client)
        runs.append(timed)
    result.queries = len(captured.captured_queries)
    result.sql_ms = 1000 * benchlib.median([sum(seconds for seconds, _, _ in run) for run in runs])
    _note_slowest(result, runs)


def _request(page: Page, client: Client) -> tuple[float, float]:
    """One request as a server handles it: the wall and CPU seconds until the answer is complete
    (for a CSV, until its first CSV_ROWS rows are out). The answer is checked after the clock."""
    from django.db import close_old_connections

    started, started_cpu = time.perf_counter(), time.process_time()
    close_old_connections()  # what request_started does in a server (the test client skips it)
    response = client.get(page.path)
    body = _first_rows(response) if page.csv else b""
    took, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    if page.csv:
        response.close()  # ends the export: its cursor is closed, as when a client stops reading
    else:
        body = response.content if page.status == 200 else response.get("Location", "").encode()
    _check(page, response, body)
    return took, cpu


def _first_rows(response: HttpResponseBase) -> bytes:
    chunks = []
    lines = 0
    for chunk in response.streaming_content:  # type: ignore[attr-defined]
        chunks.append(chunk)
        lines += chunk.count(b"\n")
        if lines > CSV_ROWS:
            break
    return b"".join(chunks)


def _check(page: Page, response: HttpResponseBase, body: bytes) -> None:
    problem = ""
    if response.status_code != page.status:
        problem = f"status {response.status_code}, not {page.status}"
    elif page.expect not in body.decode():
        problem = f"{page.expect!r} is not in the answer"
    elif page.csv and body.count(b"\n") <= CSV_ROWS:
        problem = f"fewer than {CSV_ROWS} rows"
    if problem:
        raise SystemExit(f"{page.name} ({page.path}): {problem}")


@contextmanager
def _statement_times() -> Iterator[list[tuple[float, str, Any]]]:
    """Every statement's seconds, SQL and parameters, timed around the database call itself."""
    from django.db import connection

    timed: list[tuple[float, str, Any]] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append((time.perf_counter() - started, sql, params))

    with connection.execute_wrapper(wrapper):
        yield timed


def _note_slowest(result: Measured, runs: list[list[tuple[float, str, Any]]]) -> None:
    """The statement slowest in the median of the captured runs (the same statements each run)."""
    if not runs[-1]:
        return
    if len({len(run) for run in runs}) == 1:
        medians = [benchlib.median([run[index][0] for run in runs]) for index in range(len(runs[-1]))]
    else:
        medians = [seconds for seconds, _, _ in runs[-1]]
    slowest = max(range(len(medians)), key=medians.__getitem__)
    result.slowest_ms = 1000 * medians[slowest]
    _, result.slowest_sql, result.slowest_params = runs[-1][slowest]


# --- the report ---------------------------------------------------------------------------------


def _results_table(results: list[Measured]) -> str:
    rows = [
        [result.page.name, result.page.status, f"{result.median_ms:.1f}", f"{result.ms(0.95):.1f}",
         f"{result.max_ms:.1f}", f"{result.cpu_ms:.1f}", result.queries, f"{result.sql_ms:.1f}",
         f"{result.slowest_ms:.1f}", "ok" if result.ms(0.95) <= TARGET_MS else "OVER"]
        for result in results
    ]  # fmt: skip
    headers = ["page", "status", "median ms", "p95 ms", "max ms", "CPU ms", "queries", "SQL ms", "slowest query ms",
               "p95 <= 200 ms"]  # fmt: skip
    note = ("(median/p95/max: wall time of the request over the timed rounds; CPU ms: median CPU time of this "
            "process: Django and the driver, and on SQLite the database's work too, which runs in this process; "
            "queries, SQL ms (all statements) and slowest query ms: median of 3 further requests, timed around each "
            "execute call, so on SQLite without the work done while the rows after the first are fetched)")  # fmt: skip
    return benchlib.table(headers, rows) + "\n" + note


def _slowest_table(results: list[Measured]) -> str:
    rows = [[result.page.name, f"{result.slowest_ms:.1f}", _short(result.slowest_sql)] for result in results]
    return "Slowest statement per page (median of 3 captured requests)\n" + benchlib.table(
        ["page", "ms", "statement"], rows
    )


def _short(sql: str, width: int = 150) -> str:
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(r'"[a-z_]+"\."([a-z_]+)"', r"\1", sql)  # "table"."column" -> column, to fit the line
    return sql if len(sql) <= width else sql[: width - 3] + "..."


def _explain(results: list[Measured]) -> None:
    from django.db import connection

    for result in results:
        if not result.slowest_sql:
            continue
        print()
        print(f"Plan of the slowest statement of {result.page.name!r} ({result.slowest_ms:.1f} ms):")
        print(re.sub(r"\s+", " ", result.slowest_sql))
        print(f"params: {result.slowest_params!r}")
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + result.slowest_sql, result.slowest_params)
            for row in cursor.fetchall():
                print("  " + " | ".join(str(cell) for cell in row))


def _cursor_check(results: list[Measured]) -> None:
    """The exports read through a server-side cursor (QuerySet.iterator). Django declares it
    WITH HOLD when not in a transaction, and PostgreSQL computes a WITH HOLD cursor's every row
    when the statement's own transaction commits, i.e. before the first row can be fetched. Timed
    here as Django runs it, and as it runs inside a transaction (no hold), to the first chunk."""
    from django.db import connection

    if connection.vendor != "postgresql" or not results:
        return
    print()
    print("The exports' statement through a server-side cursor, to its first 5,000 rows (one run each):")
    raw = connection.connection  # psycopg's own connection, in autocommit as Django keeps it
    for result in results:
        held = _first_fetch(raw, result, hold=True)
        with raw.transaction():
            plain = _first_fetch(raw, result, hold=False)
        print(f"  {result.page.name}: WITH HOLD, autocommit (as Django runs it) {held:.1f} ms; "
              f"in a transaction, no hold {plain:.1f} ms")  # fmt: skip


def _first_fetch(raw: Any, result: Measured, *, hold: bool) -> float:
    started = time.perf_counter()
    with raw.cursor(name="bench_pages_export", withhold=hold) as cursor:
        cursor.execute(result.slowest_sql, result.slowest_params)
        cursor.fetchmany(5000)
        took = time.perf_counter() - started
    return 1000 * took


def _verdict(results: list[Measured], over: list[Measured]) -> int:
    worst = max(results, key=lambda result: result.ms(0.95))
    if not over:
        print(f"target: every page p95 <= {TARGET_MS:.0f} ms: met (slowest: {worst.page.name}, "
              f"p95 {worst.ms(0.95):.1f} ms)")  # fmt: skip
        return 0
    names = ", ".join(f"{result.page.name} ({result.ms(0.95):.0f} ms)" for result in over)
    print(f"target: every page p95 <= {TARGET_MS:.0f} ms: NOT met: {names}")
    return 1


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _remove_database(db: str) -> None:
    from django.db import connections

    connections.close_all()
    if db == "postgres":
        benchlib.drop_postgres_database(PG_DATABASE)
    else:
        for suffix in ("", "-wal", "-shm", "-journal"):
            SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
