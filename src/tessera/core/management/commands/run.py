import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

# Passed on to gunicorn: TERM and INT (Ctrl-C) stop it, HUP reloads it, QUIT stops it at once.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
WORKER_STOP_SECONDS = 30  # a webhook attempt times out well within this


def gunicorn_argv(*, host: str, port: str, workers: str) -> list[str]:
    """The server command line, run by this very interpreter so no PATH lookup can miss it.
    Threaded workers: a request mostly waits on the database, and on 2 cores 3 sync workers
    served /healthz at 300-480 requests/s against 2,270/s for 2 workers of 4 threads."""
    return [
        sys.executable, "-m", "gunicorn", "tessera.wsgi",
        "--bind", f"{host}:{port}", "--workers", workers, "--worker-class", "gthread",
        "--threads", os.environ.get("TESSERA_THREADS", "4"), "--access-logfile", "-",
    ]  # fmt: skip


def worker_argv() -> list[str]:
    """The task worker (webhook deliveries), run like the server by this very interpreter."""
    return [sys.executable, "-m", "tessera.cli", "db_worker", "--no-reload"]


class Command(BaseCommand):
    help = (
        "Serve Tessera with gunicorn at HOST:PORT (default 127.0.0.1:8000), "
        "with a task worker beside it that delivers webhooks."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--workers", default=os.environ.get("TESSERA_WORKERS", "3"))
        parser.add_argument(
            "--no-task-worker", action="store_true", help="serve only; run `tessera db_worker` elsewhere"
        )

    def handle(self, *args: Any, host: str, port: str, workers: str, no_task_worker: bool, **options: Any) -> None:
        server_argv = gunicorn_argv(host=host, port=str(port), workers=str(workers))
        self.stdout.write(f"Serving Tessera at http://{host}:{port}/ (admin at /admin/)")
        blocker = None if no_task_worker else _why_no_worker()
        if blocker:
            self.stdout.write(f"No task worker, so no webhooks: {blocker}.")
            no_task_worker = True
        if no_task_worker:
            self.stdout.flush()
            os.execv(server_argv[0], server_argv)  # noqa: S606 - replaces this process with the server, by design
        self.stdout.write("Delivering webhooks with a task worker (tessera db_worker)")
        self.stdout.flush()
        sys.exit(_serve_beside_worker(server_argv))


def _why_no_worker() -> str | None:
    """The worker's queue is a table: without the database, or before its migrations, the worker
    could only fail, so the server starts alone and says why."""
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        first_line = (str(error).strip() or repr(error)).splitlines()[0]
        return f"the database cannot be reached ({first_line})"
    finally:
        connection.close()
    return "the database needs `tessera migrate` first" if unapplied else None


def _serve_beside_worker(server_argv: list[str]) -> int:
    """Starts the worker, then the server; passes on the signals meant for the server until it
    exits, then stops the worker. Answers the server's exit status."""
    server: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not server:  # not started yet: stop here, and the worker with us
            raise SystemExit(128 + signum)
        server[0].send_signal(signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    worker = _spawn(worker_argv())
    try:
        server.append(_spawn(server_argv))
        return server[0].wait()
    finally:
        _stop(worker)


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    # A process group of its own, so a Ctrl-C reaches it once, from us, not also from the terminal:
    # a worker signalled twice abandons the webhook it is sending.
    return subprocess.Popen(argv, process_group=0)  # noqa: S603 - our own interpreter and arguments


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """A graceful stop (the worker finishes the delivery it is sending), then a hard one."""
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
