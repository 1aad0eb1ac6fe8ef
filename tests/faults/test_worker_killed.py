"""A task worker killed (SIGKILL) in the middle of a big batch: no code of it is left behind, and
the next worker queues the job again by itself and writes it exactly once.

A real `tessera db_worker` on the private PostgreSQL (conftest.py) and on SQLite, with a lease
of a few seconds instead of ten minutes.
"""

import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.conftest import TESSERA, tessera_environment, tessera_python
from tests.loopback import wait_for

# Large enough to be still writing when killed (a chunk of progress is 50,000 codes), small
# enough to be written in a few seconds on a busy machine.
COUNT = 200_000
LEASE_SECONDS = 3
JOB = f"""
import json
from tessera.catalog.demo import demo_catalog_load
from tessera.vouchers.services import BatchSpec, batch_job_create, offer_create
running, _, _ = demo_catalog_load()
offer = offer_create(name="Enrollment", product="enrollment", session=running)
print(json.dumps({{"job": batch_job_create(offer=offer, spec=BatchSpec(count={COUNT}, country="DE")).pk}}))
"""

Query = Callable[[str], Any]
Database = tuple[dict[str, str], Query, Callable[[], bool]]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The worker's environment, a query on its database (the first column of the first row),
    and whether the job's transaction has written codes yet (uncommitted, so not countable)."""
    if request.param == "sqlite":
        path = tmp_path / "tessera.sqlite3"
        path.write_bytes(request.getfixturevalue("migrated_sqlite").read_bytes())
        env = tessera_environment(tmp_path, TESSERA_SQLITE_PATH=str(path))
        wal = Path(f"{path}-wal")

        def query(sql: str) -> Any:
            with sqlite3.connect(path, timeout=30) as db:
                return db.execute(sql).fetchone()[0]

        # The transaction's pages spill into the write-ahead log once they outgrow the cache.
        yield env, query, lambda: wal.exists() and wal.stat().st_size > 4_000_000
        return
    url = request.getfixturevalue("postgres_database")
    env = tessera_environment(tmp_path, DATABASE_URL=url)

    def query(sql: str) -> Any:
        with psycopg.connect(url, autocommit=True) as db:
            return db.execute(sql).fetchone()[0]

    # Progress is reported through a second connection, so it shows while the batch is uncommitted.
    yield env, query, lambda: query("SELECT written FROM vouchers_batchjob") > 0


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [str(TESSERA), "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2"]
    with log.open("ab") as output:
        return subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 - our own command


class TestWorkerKilledMidBatch:
    def test_no_code_is_left_and_the_next_worker_writes_the_batch_exactly_once(self, database, tmp_path):
        env, query, writing = database
        env["TESSERA_JOB_LEASE_SECONDS"] = str(LEASE_SECONDS)
        job = tessera_python(env, JOB)["job"]
        status = lambda: query(f"SELECT status FROM vouchers_batchjob WHERE id = {job}")  # noqa: E731, S608
        log = tmp_path / "worker.log"

        worker = start_worker(env, log)
        try:
            wait_for(lambda: status() == "running" and writing(), 120, "the worker to write codes")
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        assert status() == "running"  # as the dead worker left it
        assert (query("SELECT count(*) FROM vouchers_code"), query("SELECT count(*) FROM vouchers_batch")) == (0, 0)

        worker = start_worker(env, log)
        try:
            wait_for(lambda: status() in {"done", "failed"}, 120, "the job to end")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        columns = ("status", "attempts", "batch_id")
        row = [query(f"SELECT {column} FROM vouchers_batchjob WHERE id = {job}") for column in columns]  # noqa: S608
        batch = query("SELECT min(id) FROM vouchers_batch")
        assert row == ["done", 2, batch], log.read_text()
        assert query("SELECT count(*) FROM vouchers_batch") == 1
        assert query(f"SELECT count(*) FROM vouchers_code WHERE batch_id = {batch}") == COUNT  # noqa: S608
        assert "had no heartbeat for a lease; queued again (run 2)" in log.read_text()
