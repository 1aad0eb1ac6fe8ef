import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

# Passed on to gunicorn: TERM and INT (Ctrl-C) stop it, HUP reloads it, QUIT stops it at once.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
WORKER_STOP_SECONDS = 30  # a webhook attempt (TESSERA_WEBHOOK_TIMEOUT) ends well within this


def gunicorn_argv(*, host: str, port: str, workers: str) -> list[str]:
    """The server command line, run by this very interpreter so no PATH lookup can miss it.
    Threaded workers: a request mostly waits on the database, and on 2 cores 3 sync workers
    served /healthz at 300-480 requests/s against 2,270/s for 2 workers of 4 threads."""
    return [
        sys.executable, "-m", "gunicorn", "tessera.wsgi",
        "--bind", f"{host}:{port}", "--workers", workers, "--worker-class", "gthread",
        "--threads", os.environ.get("TESSERA_THREADS", "4"), "--access-logfile", "-",
    ]  # fmt: skip


def worker_argvs() -> list[list[str]]:
    """A task worker per queue (batch jobs on "default", webhook deliveries on "webhooks"), run
    like the server by this very interpreter: a flood of webhooks, or shops that answer slowly,
    then never keeps a batch job waiting."""
    return [
        [sys.executable, "-m", "tessera.cli", "db_worker", "--no-reload", "--queue-name", queue]
        for queue in settings.TASK_QUEUES
    ]


class Command(BaseCommand):
    help = (
        "Serve Tessera with gunicorn at HOST:PORT (default 127.0.0.1:8000), "
        "with task workers beside it (one per queue) that run batch jobs and deliver webhooks."
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
            self.stdout.write(f"No task workers, so no batch jobs and no webhooks: {blocker}.")
            no_task_worker = True
        if no_task_worker:
            self.stdout.flush()
            os.execv(server_argv[0], server_argv)  # noqa: S606 - replaces this process with the server, by design
        self.stdout.write("Running batch jobs and delivering webhooks with a task worker per queue (tessera db_worker)")
        # The worker also purges old client addresses daily, each run queueing the next; this
        # starts that chain if nothing is queued (docs/operations/personal-data.md).
        call_command("purge_addresses", schedule=True, stdout=self.stdout)
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
    """Starts the workers, then the server; passes on the signals meant for the server until it
    exits, then stops the workers. Answers the server's exit status."""
    server: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not server:  # not started yet: stop here, and the worker with us
            raise SystemExit(128 + signum)
        server[0].send_signal(signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.extend(_spawn(argv) for argv in worker_argvs())
        server.append(_spawn(server_argv))
        return server[0].wait()
    finally:
        _stop(workers)


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    # A process group of its own, so a Ctrl-C reaches it once, from us, not also from the terminal:
    # a worker signalled twice abandons the webhook it is sending.
    return subprocess.Popen(argv, process_group=0)  # noqa: S603 - our own interpreter and arguments


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """A graceful stop (each worker finishes the task it is running), all at once so the waits
    overlap, then a hard one. One TERM each: a worker signalled twice abandons its task."""
    running = [worker for worker in workers if worker.poll() is None]
    for worker in running:
        worker.terminate()
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for worker in running:
        try:
            worker.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
