"""Running management commands in a test: what a command prints, and one pass of the task worker."""

from io import StringIO

from django.core.management import call_command


def run_command(*args: str) -> str:
    """Runs a management command as the console script does; answers its standard output (its
    standard error, where progress bars go, is kept out of the test's output)."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_worker(*, queue: str | None = None) -> None:
    """The task worker, in this process, until its queues (or the one named) are empty."""
    only = ["--queue-name", queue] if queue else []
    call_command("db_worker", "--batch", *only, "--no-startup-delay", "--no-reload", verbosity=0)
