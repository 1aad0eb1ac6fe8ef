import logging
import threading
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django_tasks_db.management.commands.db_worker import Command as TaskWorkerCommand

from tessera.vouchers.services import batch_jobs_requeue_stalled

logger = logging.getLogger(__name__)

# However long the lease, stalled jobs are looked for at least this often (seconds).
LONGEST_PAUSE = 60
CHECKER_NAME = "stalled-batch-jobs"


class Command(TaskWorkerCommand):
    help = (
        "Run the task worker (webhook deliveries, big batches); it also queues again, at start and "
        "then once a lease, the batch jobs whose worker died (README, 'When things fail')."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pause = min(settings.TESSERA_JOB_LEASE_SECONDS, LONGEST_PAUSE)
        stop = threading.Event()
        checker = threading.Thread(
            target=_requeue_stalled_jobs_until, args=(stop, pause), name=CHECKER_NAME, daemon=True
        )
        checker.start()
        try:
            super().handle(*args, **options)
        finally:
            # The checker ends with the worker: a worker run in-process (`--batch`, tests) must
            # leave no thread behind that goes on using the database.
            stop.set()
            checker.join()


def _requeue_stalled_jobs_until(stop: threading.Event, pause: float) -> None:
    """Beside the worker's loop, on this thread's own connection; never stops the worker."""
    while True:
        try:
            batch_jobs_requeue_stalled()
        except DatabaseError as error:  # the database down or, on SQLite, busy: the next round tries again
            logger.warning("Stalled batch jobs not checked (%s: %s)", type(error).__name__, error)
        finally:
            connection.close()
        if stop.wait(pause):
            return
