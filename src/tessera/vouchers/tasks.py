"""The daily address purge, run by the task worker (`tessera db_worker`, which `tessera run`
starts). Each run queues the next for a day later; `address_purge_schedule` starts the chain
and is idempotent, so `tessera run` calls it at every start."""

import logging
from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from tessera.vouchers.services.privacy import Counts, address_cutoff, address_purge

logger = logging.getLogger(__name__)

EVERY = timedelta(days=1)


@task()
def purge_addresses_daily() -> Counts:
    try:
        return address_purge(before=address_cutoff(), actor="task")
    finally:
        # Queued even when this run failed, so one bad day does not end the daily purge.
        address_purge_schedule(run_after=timezone.now() + EVERY)


def address_purge_schedule(*, run_after: datetime | None = None) -> bool:
    """Queues the daily purge unless a run is already waiting; answers whether it queued one.
    Two chains started at once merge: the second to finish finds the first's next run waiting."""
    waiting = DBTaskResult.objects.filter(
        task_path=purge_addresses_daily.module_path, status=TaskResultStatus.READY
    ).exists()
    if waiting:
        return False
    purge_addresses_daily.using(run_after=run_after).enqueue()
    logger.info("Address purge queued for %s", run_after or "now")
    return True
