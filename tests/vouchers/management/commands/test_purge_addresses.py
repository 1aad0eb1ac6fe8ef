"""`tessera purge-addresses`: old client addresses forgotten, counted by a dry run, or the daily purge queued."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


def redeemed_long_ago(code: str, user, session, ip: str) -> Redemption:
    redemption = voucher_redeem(code=code, user=user, session=session, client_ip=ip)
    Redemption.objects.filter(pk=redemption.pk).update(redeemed_at=datetime.now(UTC) - timedelta(days=400))
    return redemption


class TestPurgeAddresses:
    def test_a_dry_run_prints_the_counts_and_changes_nothing(
        self, enrollment_offer, make_code, learner, running_session
    ):
        redeemed_long_ago(make_code(enrollment_offer), learner, running_session, "203.0.113.77")
        out = run_command("purge_addresses", "--dry-run")
        assert out.startswith("Would purge addresses stored before ")
        assert "  redemptions: 1\n" in out
        assert Redemption.objects.get().client_ip == "203.0.113.77"
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.PURGED).exists()

    def test_a_run_purges_and_is_audited(self, enrollment_offer, make_code, learner, running_session):
        redeemed_long_ago(make_code(enrollment_offer), learner, running_session, "203.0.113.77")
        out = run_command("purge_addresses")
        assert out.startswith("Purged addresses stored before ")
        assert Redemption.objects.get().client_ip is None
        assert AuditEvent.objects.get(action=AuditEvent.Action.PURGED).actor == "cli"

    def test_before_takes_a_date(self, enrollment_offer, make_code, learner, running_session):
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip="192.0.2.1")
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert "  redemptions: 1\n" in run_command("purge_addresses", "--before", tomorrow)
        assert Redemption.objects.get().client_ip is None

    def test_a_before_that_is_no_date_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run_command("purge_addresses", "--before", "last week")
        assert not AuditEvent.objects.exists()

    def test_schedule_queues_the_daily_purge_once(self, db):
        assert run_command("purge_addresses", "--schedule") == "Daily address purge queued.\n"
        assert run_command("purge_addresses", "--schedule") == "Daily address purge already queued.\n"
