"""Tests for tessera.vouchers.services.jobs: what a job stores and reads back, and jobs whose
worker died (queued again once per lease, up to TESSERA_JOB_ATTEMPTS runs)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tessera.core.chores import chores
from tessera.core.errors import InvalidInput
from tessera.vouchers.models import Batch, BatchJob
from tessera.vouchers.services import (
    IN_REQUEST_MAX,
    BatchSpec,
    batch_create_in_request,
    batch_job_create,
    batch_job_run,
    batch_jobs_requeue_stalled,
    batch_order,
)
from tessera.vouchers.services import jobs as jobs_service
from tests.rows import columns_of

FROZEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def job(enrollment_offer, django_capture_on_commit_callbacks) -> BatchJob:
    with django_capture_on_commit_callbacks(execute=True):
        return batch_job_create(offer=enrollment_offer, spec=BatchSpec(count=IN_REQUEST_MAX + 1, country="DE"))


def stall(job: BatchJob, *, attempts: int) -> None:
    long_ago = timezone.now() - BatchJob.lease() - timedelta(seconds=1)
    BatchJob.objects.filter(pk=job.pk).update(status="running", attempts=attempts, updated_at=long_ago)


class TestTheInRequestLimit:
    """One limit for every request that writes codes: the staff pages queue what is above it, the
    APIs refuse it."""

    def test_it_is_the_hundred_thousand_the_staff_api_documents(self):
        assert IN_REQUEST_MAX == 100_000  # docs/api.md: "up to 100,000 per request"

    @pytest.fixture
    def limit(self, monkeypatch) -> int:
        monkeypatch.setattr(jobs_service, "IN_REQUEST_MAX", 5)  # the rule, without writing 100,000 codes
        return 5

    def test_an_order_up_to_it_is_written_now_and_above_it_queued(self, enrollment_offer, limit):
        now = batch_order(offer=enrollment_offer, spec=BatchSpec(count=limit, country="DE"))
        later = batch_order(offer=enrollment_offer, spec=BatchSpec(count=limit + 1, country="DE"))
        assert (type(now), now.codes.count()) == (Batch, limit)
        assert (type(later), later.status, later.count) == (BatchJob, "queued", limit + 1)
        assert Batch.objects.count() == 1

    def test_a_caller_that_waits_gets_up_to_it_and_is_refused_above(self, enrollment_offer, limit):
        assert batch_create_in_request(offer=enrollment_offer, spec=BatchSpec(count=limit, country="DE")).count == limit
        with pytest.raises(InvalidInput) as refused:
            batch_create_in_request(offer=enrollment_offer, spec=BatchSpec(count=limit + 1, country="DE"))
        assert refused.value.field == "count"
        assert Batch.objects.count() == 1
        assert not BatchJob.objects.exists()


# A job's `fields` as every Tessera so far has stored them: a job queued before an upgrade runs after it.
STORED_FIELDS = {
    "count": 3, "uses_per_code": 2, "expires_at": "2099-01-02T00:00:00+00:00", "country": "DE", "tag": "spring",
    "prefix": "SPR", "refund_policy": "keep_use",
}  # fmt: skip


class TestWhatAJobStores:
    def test_a_job_stores_its_checked_batch_in_the_shape_jobs_have_always_had(self, enrollment_offer, learner):
        spec = BatchSpec(
            count=3, uses_per_code=2, expires_at=datetime(2099, 1, 2, tzinfo=UTC), country="de", tag=" spring ",
            prefix="spr", refund_policy="keep_use", restricted_to=learner, note="for the fair",
        )  # fmt: skip
        job = batch_job_create(offer=enrollment_offer, spec=spec, actor="manager")
        assert job.fields == STORED_FIELDS
        assert (job.count, job.restricted_to, job.note, job.created_by) == (3, learner, "for the fair", "manager")

    def test_a_job_stored_in_that_shape_is_written_as_it_was_asked(self, enrollment_offer, learner):
        job = BatchJob.objects.create(
            offer=enrollment_offer, count=3, fields=STORED_FIELDS, restricted_to=learner, note="for the fair",
            created_by="manager",
        )  # fmt: skip
        job = batch_job_run(job_id=job.pk)
        assert job.status == "done", job.error
        batch = job.batch
        written = (batch.count, batch.uses_per_code, batch.expires_at, batch.country, batch.tag, batch.prefix,
                   batch.refund_policy, batch.restricted_to, batch.note, batch.created_by)  # fmt: skip
        expected = (3, 2, datetime(2099, 1, 2, tzinfo=UTC), "DE", "spring", "SPR", "keep_use", learner, "for the fair",
                    "manager")  # fmt: skip
        assert written == expected
        assert batch.codes.count() == 3

    @pytest.mark.parametrize(("fields", "field"), [({"count": 0}, "count"), ({"country": "XX"}, "country")])
    def test_a_bad_batch_is_refused_before_anything_is_queued(self, enrollment_offer, fields, field):
        with pytest.raises(InvalidInput) as refused:
            batch_job_create(offer=enrollment_offer, spec=BatchSpec(**{"count": 3, "country": "DE", **fields}))
        assert refused.value.field == field
        assert not BatchJob.objects.exists()
        assert not DBTaskResult.objects.exists()


class TestBatchJobsRequeueStalled:
    def test_a_stalled_job_is_queued_again_exactly_once(self, job):
        stall(job, attempts=1)
        assert batch_jobs_requeue_stalled() == (1, 0)
        assert batch_jobs_requeue_stalled() == (0, 0)
        assert DBTaskResult.objects.filter(args_kwargs__args=[job.pk]).count() == 2  # the first queueing and this
        assert batch_job_run(job_id=job.pk).status == "done"
        job.refresh_from_db()
        assert (job.attempts, job.batch.codes.count()) == (2, IN_REQUEST_MAX + 1)

    def test_a_job_with_a_recent_heartbeat_is_left_alone(self, job):
        BatchJob.objects.filter(pk=job.pk).update(status="running", attempts=1, updated_at=timezone.now())
        assert batch_jobs_requeue_stalled() == (0, 0)

    def test_a_job_that_stalled_on_its_last_attempt_fails(self, job, settings):
        stall(job, attempts=settings.TESSERA_JOB_ATTEMPTS)
        assert batch_jobs_requeue_stalled() == (0, 1)
        job.refresh_from_db()
        gave_up = jobs_service.GAVE_UP.format(attempts=settings.TESSERA_JOB_ATTEMPTS)
        assert (job.status, job.error) == ("failed", gave_up)


class TestBatchJobRun:
    def test_a_run_whose_job_was_queued_again_meanwhile_writes_nothing(self, job, monkeypatch):
        write = jobs_service._write_batch

        def write_then_lose_the_lease(job, progress):
            batch = write(job, progress)
            BatchJob.objects.filter(pk=job.pk).update(status="queued")  # as another worker's requeue would
            return batch

        monkeypatch.setattr(jobs_service, "_write_batch", write_then_lose_the_lease)
        # Here the "other worker" shares the run's transaction, so its change is rolled back too.
        assert batch_job_run(job_id=job.pk).status == "running"
        assert not Batch.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestWorkerCommand:
    def test_a_worker_run_in_process_leaves_no_thread_behind(self):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
        names = {chore.name for chore in chores()}
        assert names  # the stalled batch jobs' chore at least
        assert [thread for thread in threading.enumerate() if thread.name in names] == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="progress is reported while writing on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
class TestProgressReport:
    def test_the_side_connections_update_changes_the_job_as_the_orms_would(self, enrollment_offer, monkeypatch):
        """The report is written by hand (docs/architecture.md, "Where Tessera writes SQL by hand"):
        the ORM cannot use a connection that settings.DATABASES does not name."""
        monkeypatch.setattr(timezone, "now", lambda: FROZEN)
        by_hand, by_orm = (BatchJob.objects.create(offer=enrollment_offer, count=100) for _ in range(2))
        with jobs_service._progress_reporter(by_hand.pk) as report:
            for written in (30, 20):
                report(written)
        for written in (30, 20):
            BatchJob.objects.filter(pk=by_orm.pk).update(written=F("written") + written, updated_at=timezone.now())
        reported, updated = (columns_of(BatchJob.objects.get(pk=job.pk)) for job in (by_hand, by_orm))
        assert {**reported, "id": None} == {**updated, "id": None}
        assert (reported["written"], reported["updated_at"]) == (50, FROZEN)
