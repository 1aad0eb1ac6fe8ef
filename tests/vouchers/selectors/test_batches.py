"""Reads of batches (tessera.vouchers.selectors.batches): one by number, an offer's batches newest
first, with their used codes counted, and the jobs still writing an offer's codes."""

import pytest

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import BatchJob, Code
from tessera.vouchers.selectors.batches import (
    batch_numbered,
    batches_of,
    batches_overview,
    job_numbered,
    jobs_unfinished,
)
from tessera.vouchers.services import BatchSpec, batch_job_create


class TestBatchNumbered:
    def test_finds_the_batch(self, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer)
        assert batch_numbered(batch.pk) == batch

    def test_an_unknown_number_is_not_found(self, db):
        with pytest.raises(DoesNotExist, match=r"^There is no batch 999\.$"):
            batch_numbered(999)


class TestBatchesOf:
    def test_the_offers_batches_newest_first(self, enrollment_offer, reactivation_offer, make_batch):
        first, second = make_batch(enrollment_offer), make_batch(enrollment_offer)
        make_batch(reactivation_offer)
        assert list(batches_of(enrollment_offer)) == [second, first]


class TestBatchesOverview:
    def test_each_batch_counts_its_used_codes(self, enrollment_offer, make_batch):
        unused = make_batch(enrollment_offer, count=2)
        used = make_batch(enrollment_offer, count=3, uses_per_code=2)
        Code.objects.filter(pk__in=list(used.codes.values_list("pk", flat=True)[:2])).update(uses=1)
        assert [(batch.pk, batch.used) for batch in batches_overview(enrollment_offer)] == [
            (used.pk, 2),
            (unused.pk, 0),
        ]


class TestJobs:
    def test_queued_and_running_jobs_are_unfinished_done_and_failed_ones_are_not(self, enrollment_offer):
        jobs = [batch_job_create(offer=enrollment_offer, spec=BatchSpec(count=20_000, country="DE")) for _ in range(4)]
        for job, status in zip(jobs, BatchJob.Status, strict=False):
            BatchJob.objects.filter(pk=job.pk).update(status=status)
        assert sorted(job.status for job in jobs_unfinished(enrollment_offer)) == ["queued", "running"]

    def test_a_job_by_number(self, enrollment_offer):
        job = batch_job_create(offer=enrollment_offer, spec=BatchSpec(count=20_000, country="DE"))
        assert job_numbered(job.pk) == job
        with pytest.raises(DoesNotExist, match=r"^There is no batch job 999\.$"):
            job_numbered(999)
