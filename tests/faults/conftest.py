"""Faults made for real: a PostgreSQL of the suite's own, started here and stopped mid-traffic,
and Tessera's own processes (server, task worker) started as a user would start them.

The private PostgreSQL runs from /usr/lib/postgresql/15/bin on a free port in a temporary
directory, never the shared server the rest of the suite uses. PostgreSQL refuses to run as root,
so under root it runs as the `postgres` user. It starts only for a test that asks for it, once
per session, and is removed at the end. If it cannot start, its tests fail under CI=true and are
skipped elsewhere.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.loopback import free_port

PG_BIN = Path(os.environ.get("TESSERA_PG_BIN", "/usr/lib/postgresql/15/bin"))
TESSERA = Path(sys.executable).with_name("tessera")


def unavailable(reason: str) -> None:
    """Fails under CI=true, skips elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@dataclass
class PrivatePostgres:
    data: Path
    port: int
    as_postgres: list[str]

    def pg_ctl(self, *args: str) -> None:
        command = [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603 - our own arguments

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-l", str(self.data / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")

    def start_if_stopped(self) -> None:
        """For a test's clean-up: the server runs again for the next test, whatever happened."""
        status = subprocess.run(  # noqa: S603 - our own arguments
            [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True
        )
        if status.returncode != 0:
            self.start()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, *, template: str = "template1") -> str:
        name = f"tessera_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL at {PG_BIN}")
    # Not under pytest's tmp_path: its parents are private to this user, and PostgreSQL may be another.
    base = Path(tempfile.mkdtemp(prefix="tessera-faults-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(base, "postgres", "postgres")
    server = PrivatePostgres(data=base / "data", port=free_port(), as_postgres=as_postgres)
    try:
        initdb = [*as_postgres, str(PG_BIN / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust", "-N"]
        subprocess.run(initdb, check=True, capture_output=True, timeout=120)  # noqa: S603 - our own arguments
        server.start()
    except (OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"the private PostgreSQL did not start: {error}")
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # a test that failed half way stopped it
            server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_postgres(private_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of the private PostgreSQL with every migration applied, to copy from: one
    `tessera migrate` per session, since starting Tessera's processes is what takes the time."""
    name = private_postgres.create_database()
    env = tessera_environment(tmp_path_factory.mktemp("migrate"), DATABASE_URL=private_postgres.url(name))
    tessera(env, "migrate", "--noinput")
    return name


@pytest.fixture
def postgres_database(private_postgres: PrivatePostgres, migrated_postgres: str) -> str:
    """A fresh, migrated database of the private PostgreSQL: its URL."""
    return private_postgres.url(private_postgres.create_database(template=migrated_postgres))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("sqlite")
    path = var_dir / "migrated.sqlite3"
    tessera(tessera_environment(var_dir, TESSERA_SQLITE_PATH=str(path)), "migrate", "--noinput")
    return path


def tessera_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a Tessera process: its own var/ and database, nothing inherited that
    could point it at the suite's database."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TESSERA_SQLITE_PATH"}}
    env.update(TESSERA_VAR_DIR=str(var_dir), PATH="/usr/bin:/bin", **extra)
    return env


def tessera(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(TESSERA), *args], env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert done.returncode == 0, done.stderr
    return done.stdout


def tessera_python(env: dict[str, str], code: str) -> dict:
    """Runs `code` in `tessera shell`; answers the JSON it prints last."""
    return json.loads(tessera(env, "shell", "-c", code).strip().splitlines()[-1])


def wait_until_served(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - our own server
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
