"""CPU per redemption request in one process: Django's test client posting POST /api/v1/redemptions
with a bearer token, each request a different single-use code and a different learner, on a fresh
PostgreSQL database (migrated, then dropped at the end). No profiler, no load generator: CPU time
(time.process_time) and wall time per request, Python's side only. The statements of one
redemption are pinned by tests/api/test_learner.py (TestStatementsPerRedemption).

To compare two versions, run this from each one's tree in turn, a few rounds interleaved
(docs/benchmarks.md section 3, "Issue 16: the redemption's statements"):

    PYTHONPATH=src .venv/bin/python bench/profile_redeem.py --database tessera_bench_redeem [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import benchlib

WARM = 20  # requests before the clock starts: URLs resolved, caches filled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="tessera_bench_redeem", help="PostgreSQL database, created afresh")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    benchlib.setup_django("postgres", pg_database=args.database, recreate=True)
    try:
        cpu, wall = _timed(args.requests)
    finally:
        from django.db import connection

        connection.close()
        benchlib.drop_postgres_database(args.database)
    print(f"{args.requests} redemptions: CPU {cpu:.3f} ms/request, wall {wall:.3f} ms/request")
    return 0


def _timed(requests: int) -> tuple[float, float]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core import signals
    from django.db import close_old_connections
    from django.test import Client

    from tessera.api.services import api_token_issue
    from tessera.vouchers.models import Code
    from tessera.vouchers.services import BatchSpec, batch_create

    settings.ALLOWED_HOSTS = ["testserver"]
    # The connection stays open between requests, as a server keeps it (CONN_MAX_AGE) or pools it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    session = benchlib.running_session()
    offer = benchlib.enrollment_offer(session)
    total = WARM + requests
    batch = batch_create(offer=offer, spec=BatchSpec(count=total, country="DE"))
    codes = list(Code.objects.filter(batch=batch).values_list("code", flat=True))
    users = User.objects.bulk_create([User(username=f"learner{i}") for i in range(total)])
    tokens = [api_token_issue(user=user)[1] for user in users]
    client = Client()

    def redeem(i: int) -> None:
        body = json.dumps({"code": codes[i], "session": session.slug})
        response = client.post(
            "/api/v1/redemptions", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {tokens[i]}"
        )
        assert response.status_code == 201, response.content

    for i in range(WARM):
        redeem(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(WARM, total):
        redeem(i)
    return 1000 * (time.process_time() - cpu) / requests, 1000 * (time.perf_counter() - wall) / requests


if __name__ == "__main__":
    raise SystemExit(main())
