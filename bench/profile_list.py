"""One shop-list request taken apart, in one process: CPU time per request, its statements, each
statement's plan (EXPLAIN ANALYZE) for a middle page, and a cProfile of the request.

Runs against a database bench_http.py kept (`--keep-database`), whose listed shop it reads
through Django's test client, one filter at a time (those of bench_http's list scenarios):

    .venv/bin/python bench/bench_http.py --database tessera_bench_x --keep-database --scenarios list-1 --duration 1
    .venv/bin/python bench/profile_list.py --database tessera_bench_x [--requests 300] [--explain] [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from typing import Any

import bench_http
import benchlib

FILTERS = ("list", "list-claimed", "list-unclaimed", "list-tag", "list-dated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per filter")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each statement of a middle page")
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many requests per filter, top 25")
    parser.add_argument("--filters", default=",".join(FILTERS))
    args = parser.parse_args()
    benchlib.setup_django("postgres", pg_database=args.database, recreate=False)
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    from django.test import Client

    from tessera.shop.models import Shop
    from tessera.shop.services import token_issue

    shop = Shop.objects.get(name="Bench list shop")
    _, token = token_issue(shop=shop)
    totals = bench_http._listed_totals(shop.pk)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    queries = {"list": "", "list-claimed": "&claimed=true", "list-unclaimed": "&claimed=false",
               "list-tag": f"&tag={bench_http.TAGS[0]}", "list-dated": bench_http._dated_query(totals)}  # fmt: skip
    rows = []
    for name in args.filters.split(","):
        pages = max(1, -(-totals[name] // bench_http.PER_PAGE))
        paths = [f"/bridges/shop/vouchers?page={random.randint(1, pages)}&per_page=50{queries[name]}"
                 for _ in range(args.requests)]  # fmt: skip
        middle = f"/bridges/shop/vouchers?page={pages // 2}&per_page=50{queries[name]}"
        rows.append([name, f"{totals[name]:,}", *_timed(client, paths), _statements(client, middle, args.explain)])
        if args.profile:
            _profiled(client, paths[: args.profile])
    print(benchlib.table(["filter", "listed", "CPU ms/request", "wall ms/request", "statements"], rows))
    return 0


def _timed(client: Any, paths: list[str]) -> tuple[str, str]:
    for path in paths[:20]:  # warm: URLs loaded, plans cached
        assert client.get(path).status_code == 200
    cpu, wall = time.process_time(), time.perf_counter()
    for path in paths:
        assert client.get(path).status_code == 200
    n = len(paths)
    return f"{1000 * (time.process_time() - cpu) / n:.2f}", f"{1000 * (time.perf_counter() - wall) / n:.2f}"


def _statements(client: Any, path: str, explain: bool) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    print(f"\n{path}: {len(captured)} statements")
    for query in captured:
        print(f"  {query['sql'][:3000]}")
        if explain and query["sql"].lstrip().upper().startswith(("SELECT", "WITH")):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                print("    " + "\n    ".join(line for (line,) in cursor.fetchall()))
    return len(captured)


def _profiled(client: Any, paths: list[str]) -> None:
    profile = cProfile.Profile()
    profile.enable()
    for path in paths:
        client.get(path)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(45)
    print(out.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
