"""Tessera over HTTP under load: gunicorn on PostgreSQL, driven by wrk at 32 connections.

Scenarios (each a fixed duration after a short warm-up on data of its own, once autovacuum is done):
  * healthz: GET /healthz, the floor: gunicorn and Django's middleware, no database;
  * list-1, list, list-claimed, list-unclaimed, list-tag: GET /bridges/shop/vouchers?page=N&per_page=50
    for a shop with 1,000,000 vouchers (2,000 batches of 500, as the bridge makes them), N
    uniform over every page; unfiltered on one connection and on 32, then filtered by
    claimed=true, claimed=false and a tag;
  * redeem-random: POST /api/v1/redemptions, request i redeems single-use code i as user i
    (each with their own API token), so every redemption must succeed (201);
  * redeem-hot: the same, every request the same multi-use code, each by a different user;
  * bulk-create-1, bulk-create: POST /bridges/shop/vouchers for 500 codes, on one connection
    (the latency target) and on 32.
The requests are prepared in files that bench/wrk/walk.lua sends; no redemption is sent twice.
Any status other than the expected one fails the run. After each redemption scenario the
database is checked: no code used more often than allowed, every code's uses equal to its live
redemptions, one redemption per (code, user), and as many redemptions as 201 answers (plus at
most one per connection that wrk left unanswered when it stopped). Bulk creates are counted the
same way; each list's X-Total-Count is checked against the seeded numbers before it runs.

Runs on its own database, `tessera_bench_http` (dropped and created; dropped again at the end
unless --keep-database). Needs wrk (Debian: `apt-get install -y wrk`).

    .venv/bin/python bench/bench_http.py [--duration 20] [--connections 32] [--workers 2]
        [--worker-class gthread|sync] [--threads 4] [--server-side-binding] [--scenarios redeem-random,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib

DATABASE = "tessera_bench_http"
WRK_SCRIPT = benchlib.REPO / "bench" / "wrk" / "walk.lua"
GUNICORN = benchlib.REPO / ".venv" / "bin" / "gunicorn"
PER_PAGE = 50
LIST_BATCH = 500  # what one bridge request may create, so a shop's batches look like this
TAGS = ("spring", "summer", "autumn", "winter")
CLAIMED_SHARE = 0.01
RESULT_MARK = "TESSERA_WRK_RESULT "

# Targets from the issue; a scenario without one is reported only.
TARGETS = {
    "redeem-random": "≥ 600 redemptions/s and p99 ≤ 150 ms",
    "bulk-create-1": "p99 ≤ 100 ms per 500-code request",
    "list": "p95 ≤ 50 ms",
    "list-claimed": "p95 ≤ 50 ms",
    "list-unclaimed": "p95 ≤ 50 ms",
    "list-tag": "p95 ≤ 50 ms",
    "list-dated": "p95 ≤ 50 ms",
}
# In this order: the lists read the seeded shop before the bulk creates add a million codes more.
ALL_SCENARIOS = (
    "healthz", "list-1", "list", "list-claimed", "list-unclaimed", "list-tag", "list-dated",
    "redeem-random", "redeem-hot", "bulk-create-1", "bulk-create",
)  # fmt: skip


@dataclass
class Scenario:
    name: str
    requests_file: Path
    connections: int
    expected_status: int
    may_repeat: bool
    warm_up_file: Path | None = None
    session_slug: str = ""  # redemption scenarios: whose redemptions the checks count
    shop_name: str = ""  # bulk creates: whose codes the checks count
    expected_total: int | None = None  # lists: X-Total-Count


@dataclass
class Result:
    scenario: Scenario
    wrk_command: str
    seconds: float
    requests: int
    statuses: dict[str, int]
    errors: dict[str, int]
    percentiles_ms: dict[str, float]
    max_ms: float
    ran_out: int
    first_unexpected: str
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    others_share: float = 0.0  # of the machine's CPU time, used by processes not in this run
    check: str = "-"
    problems: list[str] = field(default_factory=list)
    unanswered: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def unexpected(self) -> int:
        wanted = str(self.scenario.expected_status)
        others = sum(n for status, n in self.statuses.items() if status != wanted)
        return others + sum(self.errors.values())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=int, default=20, help="seconds per scenario")
    parser.add_argument("--warm-up", type=int, default=3, help="seconds of warm-up before each scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="gthread", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--pairs", type=int, default=40_000, help="prepared redemptions per scenario")
    parser.add_argument("--vouchers", type=int, default=1_000_000, help="vouchers of the listed shop")
    parser.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    parser.add_argument(
        "--server-side-binding", action="store_true",
        help="serve with ?server_side_binding=true in DATABASE_URL (psycopg binds and prepares statements)",
    )  # fmt: skip
    parser.add_argument("--keep-database", action="store_true", help="leave the database in place")
    parser.add_argument("--database", default=DATABASE, help=f"the database's name (tessera_bench...; {DATABASE})")
    parser.add_argument(
        "--reuse-database", action="store_true",
        help="lists only: serve the listed shop a kept database holds (--keep-database) instead of seeding anew; "
        "kept again",
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(scenarios) - set(ALL_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(ALL_SCENARIOS)}")
    if shutil.which("wrk") is None:
        print("wrk is not installed; on Debian or Ubuntu: apt-get install -y wrk", file=sys.stderr)
        return 2
    if not args.database.startswith("tessera_bench"):
        parser.error("--database must start with tessera_bench")
    if args.reuse_database and not all(name.startswith("list") for name in scenarios):
        parser.error("--reuse-database serves the lists only")
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_http.py", *sys.argv[1:]]))
    benchlib.setup_django("postgres", pg_database=args.database, recreate=not args.reuse_database)
    try:
        return run(args, scenarios)
    finally:
        if not (args.keep_database or args.reuse_database):
            from django.db import connections

            connections.close_all()
            benchlib.drop_postgres_database(args.database)


def run(args: argparse.Namespace, names: list[str]) -> int:
    benchlib.banner(f"bench_http: Tessera over HTTP on {benchlib.database_label()}")
    print(_machine_line())
    with tempfile.TemporaryDirectory(prefix="tessera-bench-http-") as scratch:
        work = Path(scratch)
        with benchlib.stopwatch() as took:
            scenarios = Seeder(work, args).scenarios(names)
        print(f"seeded in {took[0]:.1f} s: {_database_sizes()}", flush=True)
        with gunicorn(args, work) as (base_url, server_pid):
            print(f"server: {' '.join(gunicorn_argv(args, int(base_url.rsplit(':', 1)[1])))}", flush=True)
            results = [_measure(scenario, base_url, server_pid, args) for scenario in scenarios]
    print()
    print(_results_table(results))
    print()
    print(_cpu_table(results))
    print()
    return _verdict(results)


def bench_database() -> str:
    """The database this process set Django up on (bench_platforms.py serves its own)."""
    from django.db import connection

    name: str = connection.settings_dict["NAME"]
    return name


def _machine_line() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        (buffers,) = cursor.fetchone()
        cursor.execute("SHOW synchronous_commit")
        (sync,) = cursor.fetchone()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    return (
        f"{os.cpu_count()} cores; PostgreSQL shared_buffers {buffers}, synchronous_commit {sync}; "
        f"{wrk_version.splitlines()[0] if wrk_version else 'wrk'}"
    )


def _database_sizes() -> str:
    from django.contrib.auth.models import User

    from tessera.vouchers.models import Code

    return f"{Code.objects.count():,} codes, {User.objects.count():,} users"


# --- seeding -----------------------------------------------------------------------------------


class Seeder:
    """Builds the data every scenario needs and writes each scenario's request file."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self._tokens: list[str] = []

    def scenarios(self, names: list[str]) -> list[Scenario]:
        made: list[Scenario] = []
        if "healthz" in names:  # the floor: gunicorn, Django's middleware and a JSON answer, no database
            requests = self._write("healthz", [("GET", "/healthz", "none", "")])
            made.append(
                Scenario("healthz", requests, self.args.connections, 200, may_repeat=True, warm_up_file=requests)
            )
        if any(name.startswith("redeem") for name in names):
            self._users(max(self.args.pairs, self._warm_up_pairs()))
            if "redeem-random" in names:
                warm_up = self._single_use_codes("bench-random-warm-up", self._warm_up_pairs())
                codes = self._single_use_codes("bench-random", self.args.pairs)
                made.append(self._redeem("redeem-random", codes, warm_up))
            if "redeem-hot" in names:
                warm_up = self._hot_code("bench-hot-warm-up", self._warm_up_pairs())
                codes = self._hot_code("bench-hot", self.args.pairs)
                made.append(self._redeem("redeem-hot", codes, warm_up))
        if any(name.startswith("bulk-create") for name in names):
            made.extend(self._bulk_create(names))
        if any(name.startswith("list") for name in names):
            made.extend(self._lists(names))
        order = {name: position for position, name in enumerate(ALL_SCENARIOS)}
        return sorted(made, key=lambda scenario: order[scenario.name])

    def _warm_up_pairs(self) -> int:
        return max(2_000, 1_500 * self.args.warm_up)

    def _users(self, count: int) -> None:
        """Learners with API tokens made as api_token_issue makes them, in bulk."""
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import User

        from tessera.api.models import ApiToken
        from tessera.api.selectors import user_for_token
        from tessera.api.services import TOKEN_PREFIX
        from tessera.core.tokens import token_digest

        users = User.objects.bulk_create(
            User(username=f"learner{n:06d}", password=make_password(None)) for n in range(count)
        )
        tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in users]
        ApiToken.objects.bulk_create(
            ApiToken(user=user, label="bench", prefix=token[:8], digest=token_digest(token))
            for user, token in zip(users, tokens, strict=True)
        )
        found = user_for_token(tokens[-1])
        if found is None or found.pk != users[-1].pk:
            raise SystemExit("a bench token does not authenticate its user")
        self._tokens = tokens

    def _single_use_codes(self, slug: str, count: int) -> list[tuple[str, str]]:
        from tessera.vouchers.selectors.codes import display_code
        from tessera.vouchers.services import BatchSpec, batch_create

        offer = benchlib.enrollment_offer(benchlib.running_session(slug))
        batch = batch_create(offer=offer, spec=BatchSpec(count=count, uses_per_code=1, country="DE"), actor="bench")
        codes = [display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)]
        random.shuffle(codes)  # stored sorted; sent in random order
        return [(slug, code) for code in codes]

    def _hot_code(self, slug: str, count: int) -> list[tuple[str, str]]:
        from tessera.vouchers.selectors.codes import display_code
        from tessera.vouchers.services import BatchSpec, batch_create

        offer = benchlib.enrollment_offer(benchlib.running_session(slug))
        batch = batch_create(offer=offer, spec=BatchSpec(count=1, uses_per_code=count, country="DE"), actor="bench")
        code = display_code(batch.codes.get().code, batch.prefix)
        return [(slug, code)] * count

    def _redemptions_file(self, name: str, codes: list[tuple[str, str]]) -> Path:
        """Line i: user i redeems codes[i]. Each set of codes is for its own session, so the same
        users redeem in every scenario, and each is enrolled once per session."""
        lines = [
            ("POST", "/api/v1/redemptions", token, json.dumps({"code": code, "session": slug}))
            for token, (slug, code) in zip(self._tokens, codes, strict=False)
        ]
        return self._write(name, lines)

    def _redeem(self, name: str, codes: list[tuple[str, str]], warm_up: list[tuple[str, str]]) -> Scenario:
        return Scenario(
            name=name, requests_file=self._redemptions_file(name, codes), connections=self.args.connections,
            expected_status=201, may_repeat=False, warm_up_file=self._redemptions_file(f"{name}-warm-up", warm_up),
            session_slug=codes[0][0],
        )  # fmt: skip

    def _bulk_create(self, names: list[str]) -> list[Scenario]:
        from tessera.shop.models import Shop
        from tessera.shop.services import shop_vouchers_create

        shop_token = self._shop("Bench bulk shop")
        # The shop's first create also makes its offer; done here, so every timed request is alike.
        shop_vouchers_create(shop=Shop.objects.get(name="Bench bulk shop"), qty=1, product="enrollment", country="DE")
        body = json.dumps({"qty": LIST_BATCH, "product": "course_enrollment", "country": "DE"})
        requests = self._write("bulk-create", [("POST", "/bridges/shop/vouchers", shop_token, body)])
        made = []
        for name, connections in (("bulk-create-1", 1), ("bulk-create", self.args.connections)):
            if name in names:
                made.append(Scenario(name, requests, connections, 200, may_repeat=True, warm_up_file=requests,
                                     shop_name="Bench bulk shop"))  # fmt: skip
        return made

    def _lists(self, names: list[str]) -> list[Scenario]:
        shop_token, totals = self._listed_shop(self.args.vouchers)
        queries = {"list-1": "", "list": "", "list-claimed": "&claimed=true", "list-unclaimed": "&claimed=false",
                   "list-tag": f"&tag={TAGS[0]}", "list-dated": _dated_query(totals)}  # fmt: skip
        made = []
        for name, query in queries.items():
            if name not in names:
                continue
            total = totals[name.removesuffix("-1")]
            pages = max(1, math.ceil(total / PER_PAGE))
            lines = [
                ("GET", f"/bridges/shop/vouchers?page={random.randint(1, pages)}&per_page={PER_PAGE}{query}",
                 shop_token, "")
                for _ in range(20_000)
            ]  # fmt: skip
            requests = self._write(name, lines)
            connections = 1 if name.endswith("-1") else self.args.connections
            made.append(Scenario(name, requests, connections, 200, may_repeat=True, warm_up_file=requests,
                                 expected_total=total))  # fmt: skip
        return made

    def _listed_shop(self, vouchers: int) -> tuple[str, dict[str, Any]]:
        """A shop with `vouchers` codes in batches of 500 (as the bridge creates them), four tags
        taking turns, and 1% of them claimed (recorded directly: there is no redemption to time)."""
        from tessera.shop.models import Shop
        from tessera.shop.services import shop_vouchers_create, token_issue

        shop = Shop.objects.filter(name="Bench list shop").first()
        if self.args.reuse_database and shop is not None:
            _, token = token_issue(shop=shop)
            print(f"listed shop: reused from {self.args.database}", flush=True)
            return token, _listed_totals(shop.pk)
        token = self._shop("Bench list shop")
        shop = Shop.objects.get(name="Bench list shop")
        started = time.perf_counter()
        for n in range(math.ceil(vouchers / LIST_BATCH)):
            qty = min(LIST_BATCH, vouchers - n * LIST_BATCH)
            shop_vouchers_create(shop=shop, qty=qty, product="enrollment", country="DE", tag=TAGS[n % len(TAGS)])
        print(f"listed shop: {vouchers:,} vouchers in {time.perf_counter() - started:.1f} s", flush=True)
        claimed = self._claim_some(shop.pk, round(vouchers * CLAIMED_SHARE))
        tagged = sum(min(LIST_BATCH, vouchers - n * LIST_BATCH) for n in range(0, math.ceil(vouchers / LIST_BATCH), 4))
        totals = {"list": vouchers, "list-claimed": claimed, "list-unclaimed": vouchers - claimed, "list-tag": tagged}
        return token, {**totals, **_dated_totals(shop.pk)}

    def _claim_some(self, shop_id: int, count: int) -> int:
        from django.contrib.auth.models import User
        from django.db import connection

        session = benchlib.running_session("bench-claimed")
        claimant = User.objects.create_user(username="bench-claimant")  # no password: cannot sign in
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH picked AS (
                    SELECT c.code FROM vouchers_code c JOIN shop_shopbatch sb ON sb.batch_id = c.batch_id
                    WHERE sb.shop_id = %s ORDER BY random() LIMIT %s
                ), used AS (
                    UPDATE vouchers_code SET uses = uses + 1 FROM picked
                    WHERE vouchers_code.code = picked.code RETURNING vouchers_code.code
                )
                INSERT INTO vouchers_redemption
                    (code_id, user_id, session_id, product, redeemed_at, client_ip, had_active_enrollment, reversed_by)
                SELECT code, %s, %s, 'enrollment', now() - random() * interval '30 days', '203.0.113.7', false, ''
                FROM used
                """,
                [shop_id, count, claimant.pk, session.pk],
            )
            claimed = cursor.rowcount
            cursor.execute("VACUUM ANALYZE")
        return claimed

    def _shop(self, name: str) -> str:
        from tessera.shop.services import shop_create, token_issue

        _, token = token_issue(shop=shop_create(name=name))
        return token

    def _write(self, name: str, lines: list[tuple[str, str, str, str]]) -> Path:
        path = self.work / f"{name}.tsv"
        path.write_text("".join("\t".join(line) + "\n" for line in lines))
        return path


def _listed_totals(shop_id: int) -> dict[str, int]:
    """What a reused shop's lists hold, counted plainly."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE c.uses > 0), COUNT(*) FILTER (WHERE b.tag = %s)"
            " FROM vouchers_code c JOIN vouchers_batch b ON b.id = c.batch_id"
            " JOIN shop_shopbatch sb ON sb.batch_id = b.id WHERE sb.shop_id = %s",
            [TAGS[0], shop_id],
        )
        listed, claimed, tagged = cursor.fetchone()
    totals = {"list": listed, "list-claimed": claimed, "list-unclaimed": listed - claimed, "list-tag": tagged}
    return {**totals, **_dated_totals(shop_id)}


def _dated_totals(shop_id: int) -> dict[str, Any]:
    """list-dated: claimed=true from the tenth day after the first claim, for ten days (a third
    of the seeded claims, which spread over 30 days); its total counted plainly."""
    from datetime import timedelta

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(r.redeemed_at) FROM vouchers_redemption r JOIN vouchers_code c ON c.code = r.code_id"
            " JOIN shop_shopbatch sb ON sb.batch_id = c.batch_id WHERE sb.shop_id = %s",
            [shop_id],
        )
        (first,) = cursor.fetchone()
        start = first.date() + timedelta(days=10)
        end = start + timedelta(days=9)  # end_date is inclusive: ten days
        cursor.execute(
            "SELECT COUNT(*) FROM vouchers_code c JOIN shop_shopbatch sb ON sb.batch_id = c.batch_id"
            " WHERE sb.shop_id = %s AND c.uses > 0 AND EXISTS (SELECT 1 FROM vouchers_redemption r"
            " WHERE r.code_id = c.code AND r.reversed_at IS NULL AND r.redeemed_at >= %s AND r.redeemed_at < %s)",
            [shop_id, start, end + timedelta(days=1)],
        )
        (dated,) = cursor.fetchone()
    return {"list-dated": dated, "dated-from": start.isoformat(), "dated-to": end.isoformat()}


def _dated_query(totals: dict[str, Any]) -> str:
    return f"&claimed=true&start_date={totals['dated-from']}&end_date={totals['dated-to']}"


# --- the server --------------------------------------------------------------------------------


def gunicorn_argv(args: argparse.Namespace, port: int) -> list[str]:
    argv = [str(GUNICORN.relative_to(benchlib.REPO)), "tessera.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers), "--worker-class", args.worker_class, "--log-level", "warning"]  # fmt: skip
    if args.worker_class == "gthread":
        argv += ["--threads", str(args.threads)]
    if os.environ.get("TESSERA_BENCH_GUNICORN_CONFIG"):  # e.g. a profiler's hooks, for digging
        argv += ["--config", os.environ["TESSERA_BENCH_GUNICORN_CONFIG"]]
    return argv


@contextmanager
def gunicorn(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, int]]:
    """Serves the bench database on a free port; stops the whole process group on the way out."""
    from django.conf import settings

    port = _free_port()
    url = os.environ["DATABASE_URL"] + ("?server_side_binding=true" if args.server_side_binding else "")
    env = {**os.environ, "TESSERA_VAR_DIR": str(work / "var"), "TESSERA_SECRET_KEY": secrets.token_hex(16),
           "TESSERA_LOG_LEVEL": "WARNING", "DATABASE_URL": url}  # fmt: skip
    assert settings.DATABASES["default"]["NAME"].startswith("tessera_bench"), "only ever a bench database"
    server = subprocess.Popen(  # noqa: S603
        gunicorn_argv(args, port), cwd=benchlib.REPO, env=env, start_new_session=True
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base_url, server)
        # Every worker loads Tessera's URLs (the API's routers) on its first request: done here.
        prime = ["wrk", "-t2", "-c8", "-d2s", f"{base_url}/healthz"]
        subprocess.run(prime, capture_output=True, check=True)  # noqa: S603 (our own command line)
        yield base_url, server.pid
    finally:
        _stop(server)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:  # noqa: S310 (our own server)
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# --- one scenario ------------------------------------------------------------------------------


def _measure(scenario: Scenario, base_url: str, server_pid: int, args: argparse.Namespace) -> Result:
    _wait_for_autovacuum()
    if scenario.expected_total is not None:
        _check_total(scenario, base_url)
    if scenario.warm_up_file is not None and args.warm_up > 0:
        warm_up = Scenario(f"{scenario.name} warm-up", scenario.warm_up_file, scenario.connections,
                           scenario.expected_status, scenario.may_repeat)  # fmt: skip
        warmed = _wrk(warm_up, base_url, args.warm_up, args, server_pid)
        if _status_problems(warmed):
            raise SystemExit(f"{warm_up.name} FAILED: {'; '.join(_status_problems(warmed))}")
        _wait_until_server_idle()  # the warm-up's last requests are not counted as the scenario's
    before = _rows_counted(scenario)
    result = _wrk(scenario, base_url, args.duration, args, server_pid)
    if scenario.session_slug:
        _wait_until_server_idle()
        _check_redemptions(result, before)
    if scenario.shop_name:
        _wait_until_server_idle()
        _check_bulk_creates(result, before)
    problems = _status_problems(result)
    result.problems.extend(problems)
    if result.problems:
        result.check = "FAILED"
    print(f"{scenario.name}: {result.rate:,.0f} req/s, p50 {result.percentiles_ms['50']:.1f} ms, "
          f"p99 {result.percentiles_ms['99']:.1f} ms, check {result.check}", flush=True)  # fmt: skip
    for problem in result.problems:
        print(f"  FAILED: {problem}", flush=True)
    return result


def _wrk(scenario: Scenario, base_url: str, duration: int, args: argparse.Namespace, server_pid: int) -> Result:
    threads = max(1, min(args.wrk_threads, scenario.connections))
    argv = ["wrk", "--threads", str(threads), "--connections", str(scenario.connections),
            "--duration", f"{duration}s", "--timeout", "10s", "--script", str(WRK_SCRIPT.relative_to(benchlib.REPO)),
            base_url]  # fmt: skip
    env = {**os.environ, "TESSERA_WRK_REQUESTS": str(scenario.requests_file), "TESSERA_WRK_THREADS": str(threads),
           "TESSERA_WRK_REPEAT": "1" if scenario.may_repeat else "0",
           "TESSERA_WRK_EXPECT": str(scenario.expected_status)}  # fmt: skip
    cpu_before = _cpu_seconds(server_pid)
    wrk_before, machine_before = _children_cpu(), _machine_busy()
    done = subprocess.run(argv, cwd=benchlib.REPO, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    wrk_cpu, machine_busy = _children_cpu() - wrk_before, _machine_busy() - machine_before
    cpu_after = _cpu_seconds(server_pid)
    # A process that ended during the run took its CPU time along; those that stayed are counted
    # from their earlier reading, those that started from zero.
    used = {
        group: sum(seconds - cpu_before[group].get(pid, 0.0) for pid, seconds in cpu_after[group].items())
        for group in cpu_after
    }
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    requests = int(raw["requests"])
    cpu = {group: 1000 * seconds / max(requests, 1) for group, seconds in used.items()}
    cpu["wrk"] = 1000 * wrk_cpu / max(requests, 1)
    ours = sum(used.values()) + wrk_cpu
    others = max(0.0, machine_busy - ours) / (raw["duration_us"] / 1e6 * (os.cpu_count() or 1))
    return Result(
        scenario=scenario, wrk_command=shlex.join(argv), seconds=raw["duration_us"] / 1e6, requests=requests,
        statuses={str(k): int(v) for k, v in raw["statuses"].items()}, errors=raw["errors"],
        percentiles_ms={k: v / 1000 for k, v in raw["latency_us"]["percentiles"].items()},
        max_ms=raw["latency_us"]["max"] / 1000, ran_out=int(raw["ran_out"]), first_unexpected=raw["first_unexpected"],
        cpu_ms_per_request=cpu, others_share=others,
    )  # fmt: skip


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle, all cores together (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(server_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds used so far, per process: gunicorn's, and PostgreSQL's that serve the bench
    database or the whole server (WAL writer, checkpointer...), not other databases'."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}}
    postgres = _postgres_pids()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        seconds, pid = (int(fields[11]) + int(fields[12])) / ticks, int(stat.parent.name)
        if int(fields[2]) == server_pid:
            totals["gunicorn"][pid] = seconds
        elif pid in postgres:
            totals["postgres"][pid] = seconds
    return totals


def _postgres_pids() -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s OR datname IS NULL",
            [bench_database()],
        )
        return {pid for (pid,) in cursor.fetchall()} | {_postmaster_pid()}


def _postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    parent = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1]
    return int(parent)


def _status_problems(result: Result) -> list[str]:
    problems = []
    if result.requests == 0:
        problems.append("no request completed")
    if result.unexpected:
        problems.append(
            f"unexpected answers: statuses {result.statuses}, socket errors {result.errors}; "
            f"first: {result.first_unexpected!r}"
        )
    if result.ran_out:
        problems.append(f"ran out of prepared redemptions ({result.ran_out} times); raise --pairs")
    return problems


def _wait_for_autovacuum(limit: float = 300) -> None:
    """Autovacuum cleans up after the scenarios that write (a million codes, tens of thousands of
    redemptions) and may take most of a core meanwhile: each scenario starts once it is done."""
    from django.db import connection

    started = time.monotonic()
    while time.monotonic() - started < limit:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'autovacuum worker'",
                [bench_database()],
            )
            (running,) = cursor.fetchone()
        if not running:
            break
        time.sleep(1)
    waited = time.monotonic() - started
    if waited >= 1:
        print(f"(waited {waited:.0f} s for autovacuum to finish first)", flush=True)


def _wait_until_server_idle() -> None:
    """wrk leaves up to one request per connection in flight; the checks wait until the server
    has finished them (no other session of the bench database in a transaction or a query)."""
    from django.db import connection

    deadline, idle_in_a_row = time.monotonic() + 30, 0
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                " AND state <> 'idle'",
                [bench_database()],
            )
            (busy,) = cursor.fetchone()
        idle_in_a_row = 0 if busy else idle_in_a_row + 1
        if idle_in_a_row == 5:  # a second of quiet: a request between two queries has finished too
            return
        time.sleep(0.2)
    raise SystemExit("the server was still busy 30 s after wrk stopped")


def _rows_counted(scenario: Scenario) -> int:
    """What a scenario's check compares with: its session's redemptions or its shop's codes."""
    from tessera.vouchers.models import Code, Redemption

    if scenario.session_slug:
        return Redemption.objects.filter(session__slug=scenario.session_slug).count()
    if scenario.shop_name:
        return Code.objects.filter(batch__shop_batch__shop__name=scenario.shop_name).count()
    return 0


def _check_total(scenario: Scenario, base_url: str) -> None:
    """The list's first page through the server: X-Total-Count must be what was seeded."""
    with open(scenario.requests_file) as lines:
        _, path, token, _ = next(lines).rstrip("\n").split("\t")
    url = urllib.parse.urlsplit(path)
    query = [(key, value) for key, value in urllib.parse.parse_qsl(url.query) if key != "page"]
    first_page = f"{url.path}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(base_url + first_page, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own server)
        total = int(answer.headers["X-Total-Count"])
    if total != scenario.expected_total:
        raise SystemExit(f"{scenario.name}: X-Total-Count {total}, but {scenario.expected_total} were seeded")


def _check_bulk_creates(result: Result, before: int) -> None:
    """Every 200 created 500 codes; wrk may have left one create per connection unanswered."""
    added = _rows_counted(result.scenario) - before
    created, extra = divmod(added, LIST_BATCH)
    result.unanswered = created - result.statuses.get("200", 0)
    if extra or not 0 <= result.unanswered <= result.scenario.connections:
        result.problems.append(f"{result.statuses.get('200', 0)} creates answered 200 but {added} codes were added")
    result.check = "OK" if not result.problems else "FAILED"


def _check_redemptions(result: Result, before: int) -> None:
    """Over-use and bookkeeping, over the whole database, after the scenario's last answer."""
    from django.db import connection

    from tessera.catalog.models import Enrollment
    from tessera.vouchers.models import Redemption

    slug = result.scenario.session_slug
    checks = {
        "codes used more often than allowed": "SELECT count(*) FROM vouchers_code WHERE uses > max_uses",
        "codes whose uses differ from their live redemptions": """
            SELECT count(*) FROM vouchers_code c
            LEFT JOIN (SELECT code_id, count(*) AS n FROM vouchers_redemption WHERE reversed_at IS NULL
                       GROUP BY code_id) r ON r.code_id = c.code
            WHERE c.uses <> coalesce(r.n, 0)""",
        "(code, user) pairs redeemed twice": """
            SELECT count(*) FROM (SELECT 1 FROM vouchers_redemption WHERE reversed_at IS NULL
                                  GROUP BY code_id, user_id HAVING count(*) > 1) twice""",
    }
    with connection.cursor() as cursor:
        for problem, sql in checks.items():
            cursor.execute(sql)
            (found,) = cursor.fetchone()
            if found:
                result.problems.append(f"{found} {problem}")
    # wrk stops at its deadline with up to one request per connection unanswered; the server
    # still completes those, so they are recorded without a 201 having been counted.
    added = Redemption.objects.filter(session__slug=slug).count() - before
    created = result.statuses.get("201", 0)
    result.unanswered = added - created
    if not 0 <= result.unanswered <= result.scenario.connections:
        result.problems.append(
            f"{created} answers were 201 but {added} redemptions were recorded "
            f"(at most {result.scenario.connections} may be in flight when wrk stops)"
        )
    enrollments = Enrollment.objects.filter(session__slug=slug).count()
    redemptions = Redemption.objects.filter(session__slug=slug).count()
    if enrollments != redemptions:
        result.problems.append(f"{enrollments} enrollments but {redemptions} redemptions in {slug}")
    result.check = "OK"


# --- the report --------------------------------------------------------------------------------


def _results_table(results: list[Result]) -> str:
    rows = [
        [
            r.scenario.name, r.scenario.connections, f"{r.requests:,}", f"{r.seconds:.1f}", f"{r.rate:,.0f}",
            *(f"{r.percentiles_ms[p]:.1f}" for p in ("50", "95", "99")), f"{r.max_ms:.1f}",
            r.unexpected, r.unanswered if r.scenario.session_slug or r.scenario.shop_name else "-", r.check,
        ]
        for r in results
    ]  # fmt: skip
    headers = ["scenario", "connections", "requests", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "errors", "in flight", "check"]  # fmt: skip
    return benchlib.table(headers, rows)


def _cpu_table(results: list[Result]) -> str:
    rows = []
    for r in results:
        cpu = r.cpu_ms_per_request
        rows.append([r.scenario.name, *(f"{cpu[group]:.2f}" for group in ("gunicorn", "postgres", "wrk")),
                     f"{sum(cpu.values()):.2f}", f"{100 * r.others_share:.0f}%"])  # fmt: skip
    title = (
        "CPU time per request (ms), from /proc and wrk's rusage; 'others': the share of both cores that\n"
        "processes outside this run (other databases' backends included) used meanwhile\n"
    )
    return title + benchlib.table(["scenario", "gunicorn", "postgres", "wrk", "total", "others"], rows)


def _verdict(results: list[Result]) -> int:
    failed = any(r.problems for r in results)
    for r in results:
        target = TARGETS.get(r.scenario.name)
        if target is None:
            continue
        print(f"target {r.scenario.name}: {target}: {'met' if _meets(r) else 'MISSED'}")
    print("wrk commands (each scenario ran once with these, after a warm-up):")
    for r in results:
        print(f"  {r.scenario.name}: {r.wrk_command}")
    print("all checks: OK" if not failed else "all checks: FAILED")
    return 1 if failed else 0


def _meets(r: Result) -> bool:
    p = r.percentiles_ms
    if r.problems or not r.requests:
        return False
    if r.scenario.name == "redeem-random":
        return r.rate >= 600 and p["99"] <= 150
    if r.scenario.name == "bulk-create-1":
        return p["99"] <= 100
    return p["95"] <= 50


if __name__ == "__main__":
    sys.exit(main())
