"""Batches too large for one request: checked at once, queued, written by the task worker.

The staff page creates a job (`batch_job_create`); after commit a django-tasks task runs
`batch_job_run` in `tessera db_worker` (started by `tessera run`). The codes are still written
by `batch_create`, all or nothing in one transaction, so a failed job leaves no code behind.

Exactly once: a claim marks the job running and counts an attempt; the batch and the job's
"done" are committed together, and only if the job is still this attempt's. A worker that dies
(SIGKILL, a lost machine) rolls its transaction back, leaving no code; `tessera db_worker` queues
such a stalled job (no heartbeat for TESSERA_JOB_LEASE_SECONDS) again, up to TESSERA_JOB_ATTEMPTS
runs, then fails it (batch_jobs_requeue_stalled).

Progress: the batch's transaction hides its rows until it commits, so the count of codes
written is reported through a second database connection. PostgreSQL takes that write at once;
SQLite has a single writer, held by the batch until it commits, so on SQLite the page shows a
bar without a count until the job ends.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tasks import task

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.errors import JobNotRequeued
from tessera.vouchers.models import Batch, BatchJob, Offer
from tessera.vouchers.services.batches import BatchSpec, Progress, batch_create

logger = logging.getLogger(__name__)

# The most codes one HTTP request writes while its caller waits, on every surface: the staff
# pages write more through the task worker (batch_order); the APIs refuse more
# (batch_create_in_request), and the CLI has no such limit. 100,000 codes take well under a second
# (docs/benchmarks.md, section 1).
IN_REQUEST_MAX = 100_000
UNEXPECTED = "The job stopped on an unexpected error and created no codes; the server log has the details."
STOPPED = "The task worker was stopped while writing; no codes were created."
GAVE_UP = "The task worker died while writing, {attempts} times; no codes were created."


class Superseded(Exception):
    """The job was queued again (its lease ran out) while this attempt was writing it."""


Status = BatchJob.Status


def batch_job_create(*, offer: Offer, spec: BatchSpec, actor: str = "system") -> BatchJob:
    """Checks the batch as batch_create would (refusing with the same errors), records the job
    and queues it once the job is committed."""
    spec = spec.checked(offer)
    job = BatchJob.objects.create(
        offer=offer, count=spec.count, fields=_stored(spec), restricted_to=spec.restricted_to, note=spec.note,
        created_by=actor[:150],
    )  # fmt: skip
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def written_in_request(count: int) -> bool:
    """Whether a batch of `count` codes is written in the request that asks for it."""
    return count <= IN_REQUEST_MAX


def batch_order(*, offer: Offer, spec: BatchSpec, actor: str = "system") -> Batch | BatchJob:
    """For a caller that can follow a job (the staff pages): up to IN_REQUEST_MAX codes are
    written now (a Batch); more are checked now and written by the task worker (a BatchJob)."""
    if written_in_request(spec.count):
        return batch_create(offer=offer, spec=spec, actor=actor)
    return batch_job_create(offer=offer, spec=spec, actor=actor)


def batch_create_in_request(*, offer: Offer, spec: BatchSpec, actor: str = "system") -> Batch:
    """For a caller that waits for its batch (the staff API, the shop bridge): up to
    IN_REQUEST_MAX codes are written now; more are refused, writing nothing."""
    if not written_in_request(spec.count):
        raise InvalidInput(
            f"One request writes up to {IN_REQUEST_MAX:,} codes; a larger batch is written in the background "
            "from the staff pages, or by `tessera create-batch`.",
            field="count",
        )
    return batch_create(offer=offer, spec=spec, actor=actor)


def batch_job_run(*, job_id: int) -> BatchJob:
    """Writes the job's batch. A job runs once per queueing: a second delivery of the task
    finds it claimed, and an attempt whose job was queued again meanwhile commits nothing."""
    now = timezone.now()
    claimed = BatchJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, started_at=now, updated_at=now
    )
    job = BatchJob.objects.select_related("offer", "restricted_to").get(pk=job_id)
    if not claimed:
        return job
    try:
        with _progress_reporter(job.pk) as progress, transaction.atomic():
            batch = _write_batch(job, progress)
            if not _finish(job, Status.DONE, batch=batch):
                raise Superseded()
    except Superseded:
        logger.warning("Batch job %s was queued again while run %s wrote it; it wrote nothing", job.pk, job.attempts)
    except DomainError as refusal:  # e.g. the expiry passed or vouchers were switched off while queued
        _finish(job, Status.FAILED, error=refusal.message)
    except Exception:
        logger.exception("Batch job %s failed", job.pk)
        _finish(job, Status.FAILED, error=UNEXPECTED)
    except BaseException:  # the worker told to stop at once (SystemExit, KeyboardInterrupt): say so, then stop
        _finish(job, Status.FAILED, error=STOPPED)
        raise
    job.refresh_from_db()
    return job


def batch_job_requeue(*, job: BatchJob) -> BatchJob:
    """Queues a failed or stalled job again, with its attempts counted afresh. Safe: a batch is
    written all or nothing, so neither left a code behind; the conditional UPDATE lets only one
    of two clicks through."""
    now = timezone.now()
    requeued = (
        BatchJob.objects.filter(pk=job.pk)
        .filter(Q(status=Status.FAILED) | _stalled(now))
        .update(
            status=Status.QUEUED, attempts=0, written=0, error="", started_at=None, updated_at=now, finished_at=None
        )
    )
    if not requeued:
        raise JobNotRequeued()
    transaction.on_commit(lambda: _enqueue(job.pk))
    job.refresh_from_db()
    return job


def batch_jobs_requeue_stalled() -> tuple[int, int]:
    """Every stalled job (its worker died) is queued again, or failed once it has had
    TESSERA_JOB_ATTEMPTS runs. Each is one conditional UPDATE, so of two workers doing this at
    once only one moves a job. Answers (queued again, failed)."""
    now, requeued, failed = timezone.now(), 0, 0
    for job_id, attempts in BatchJob.objects.filter(_stalled(now)).values_list("pk", "attempts"):
        with transaction.atomic():
            still_stalled = BatchJob.objects.filter(_stalled(now), pk=job_id, attempts=attempts)
            if attempts >= settings.TESSERA_JOB_ATTEMPTS:
                error = GAVE_UP.format(attempts=attempts)
                failed += still_stalled.update(status=Status.FAILED, error=error, finished_at=now, updated_at=now)
            elif still_stalled.update(status=Status.QUEUED, written=0, started_at=None, updated_at=now):
                create_batch_in_background.enqueue(job_id)  # in the same transaction: queued exactly once
                requeued += 1
                logger.warning("Batch job %s had no heartbeat for a lease; queued again (run %s)", job_id, attempts + 1)
    return requeued, failed


def _stalled(now: datetime) -> Q:
    return Q(status=Status.RUNNING) & (Q(updated_at__lt=now - BatchJob.lease()) | Q(updated_at__isnull=True))


def _write_batch(job: BatchJob, progress: Progress | None) -> Batch:
    return batch_create(offer=job.offer, spec=_spec_of(job), actor=job.created_by or "system", progress=progress)


# A job's `fields` keep the shape jobs have had from the start, so a job queued by an older
# Tessera still runs: the checked batch but for restricted_to and note (columns of the job),
# with expires_at in ISO 8601.
STORED = ("count", "uses_per_code", "expires_at", "country", "tag", "prefix", "refund_policy")


def _stored(spec: BatchSpec) -> dict[str, Any]:
    fields = {name: getattr(spec, name) for name in STORED}
    fields["expires_at"] = spec.expires_at.isoformat() if spec.expires_at else None
    return fields


def _spec_of(job: BatchJob) -> BatchSpec:
    fields = {name: job.fields[name] for name in STORED}
    expires_at = fields.pop("expires_at")
    return BatchSpec(
        **fields, expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
        restricted_to=job.restricted_to, note=job.note,
    )  # fmt: skip


def _finish(job: BatchJob, status: str, *, batch: Batch | None = None, error: str = "") -> bool:
    """Records how this attempt ended, if the job is still this attempt's; answers whether it was."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "batch": batch, "error": error, "finished_at": now, "updated_at": now}
    if batch is not None:
        fields["written"] = batch.count
    return bool(BatchJob.objects.filter(pk=job.pk, status=Status.RUNNING, attempts=job.attempts).update(**fields))


@contextmanager
def _progress_reporter(job_id: int) -> Iterator[Progress | None]:
    if connection.vendor != "postgresql":
        yield None  # see the module's docstring
        return
    # Written by hand: the ORM runs only on the connections settings.DATABASES names, and this is a
    # second one to the same database, so that its reports commit while the batch's transaction is
    # open. tests/vouchers/test_jobs.py holds the UPDATE to the ORM's.
    side = connections.create_connection(DEFAULT_DB_ALIAS)  # autocommit: each report is seen at once
    table = BatchJob._meta.db_table

    def report(written: int) -> None:
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET written = written + %s, updated_at = %s WHERE id = %s",  # noqa: S608
                [written, timezone.now(), job_id],
            )

    try:
        yield report
    finally:
        side.close()


@task()
def create_batch_in_background(job_id: int) -> str:
    """The task `tessera db_worker` runs for a queued job."""
    return batch_job_run(job_id=job_id).status


def _enqueue(job_id: int) -> None:
    try:
        create_batch_in_background.enqueue(job_id)
    except Exception:
        logger.exception("Batch job %s could not be queued", job_id)
        BatchJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.FAILED, error="The job could not be queued; nothing was created.", finished_at=timezone.now()
        )
