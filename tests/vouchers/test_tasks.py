"""Tests for the daily address purge run by the task worker (tessera.vouchers.tasks)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tessera.vouchers import tasks
from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import voucher_redeem
from tessera.vouchers.tasks import address_purge_schedule
from tests.commands import run_worker


def queued() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(status=TaskResultStatus.READY))


class TestSchedule:
    def test_scheduling_queues_one_run_however_often_it_is_asked(self, db):
        assert address_purge_schedule() is True
        assert address_purge_schedule() is False
        [waiting] = queued()
        assert waiting.task_path == "tessera.vouchers.tasks.purge_addresses_daily"

    def test_a_run_that_fails_still_queues_the_next(self, db, monkeypatch):
        def broken(**kwargs):
            raise RuntimeError("database away")

        monkeypatch.setattr(tasks, "address_purge", broken)
        with pytest.raises(RuntimeError):
            tasks.purge_addresses_daily.call()
        [waiting] = queued()
        assert waiting.run_after > timezone.now() + timedelta(hours=23)


@pytest.mark.django_db(transaction=True)
class TestTheWorkerPurges:
    def test_the_worker_purges_old_addresses_and_queues_tomorrows_run(
        self, enrollment_offer, make_code, learner, running_session
    ):
        redemption = voucher_redeem(
            code=make_code(enrollment_offer), user=learner, session=running_session, client_ip="203.0.113.77"
        )
        Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=timezone.now() - timedelta(days=400))
        address_purge_schedule()
        run_worker()
        assert Redemption.objects.get().client_ip is None
        assert AuditEvent.objects.get(action=AuditEvent.Action.PURGED).actor == "task"
        assert DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == 1
        [tomorrow] = queued()
        assert timezone.now() + timedelta(hours=23) < tomorrow.run_after < timezone.now() + timedelta(hours=25)
