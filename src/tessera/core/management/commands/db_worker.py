import logging
import threading
from typing import Any

from django.db import DatabaseError, connection
from django_tasks_db.management.commands.db_worker import Command as TaskWorkerCommand

from tessera.core.chores import Chore, chores

logger = logging.getLogger(__name__)

# However long a chore's own pause, it runs at least this often (seconds).
LONGEST_PAUSE = 60


class Command(TaskWorkerCommand):
    help = (
        "Run the task worker (webhook deliveries, big batches). At its start, and then every so often "
        "beside its loop, it also queues again the batch jobs and webhook deliveries whose worker died "
        "(docs/operations/failures.md and docs/webhooks.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for chore in chores():
            # At the start in this thread, so that a `--batch` run (which ends when its queue is
            # empty, and so needs no rounds after) finds what the chore queued.
            _run(chore)
            if not options["batch"]:
                pause = min(chore.every(), LONGEST_PAUSE)
                threading.Thread(target=_run_until, args=(chore, pause, stop), daemon=True, name=chore.name).start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()  # the chores end with the worker, also one run in-process


def _run(chore: Chore) -> None:
    """Never stops the worker: the database down or, on SQLite, busy, the next round tries again."""
    try:
        chore.run()
    except DatabaseError as error:
        logger.warning("Chore %s not done (%s: %s)", chore.name, type(error).__name__, error)
    except Exception:  # a chore's own bug must not keep the worker from its tasks
        logger.exception("Chore %s failed", chore.name)


def _run_until(chore: Chore, pause: float, stop: threading.Event) -> None:
    """Beside the worker's loop, on this thread's own connection."""
    while not stop.wait(pause):
        try:
            _run(chore)
        finally:
            connection.close()
