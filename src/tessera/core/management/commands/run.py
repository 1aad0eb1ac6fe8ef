import os
import sys
from typing import Any

from django.core.management.base import BaseCommand


def gunicorn_argv(*, host: str, port: str, workers: str) -> list[str]:
    """The server command line, run by this very interpreter so no PATH lookup can miss it."""
    return [
        sys.executable, "-m", "gunicorn", "tessera.wsgi",
        "--bind", f"{host}:{port}", "--workers", workers, "--access-logfile", "-",
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Serve Tessera with gunicorn at HOST:PORT (default 127.0.0.1:8000)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--workers", default=os.environ.get("TESSERA_WORKERS", "3"))

    def handle(self, *args: Any, host: str, port: str, workers: str, **options: Any) -> None:
        self.stdout.write(f"Serving Tessera at http://{host}:{port}/ (admin at /admin/)")
        self.stdout.flush()
        argv = gunicorn_argv(host=host, port=str(port), workers=str(workers))
        os.execv(argv[0], argv)  # noqa: S606 - replaces this process with the server, by design
