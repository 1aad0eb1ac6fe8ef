"""`tessera erase-learner`: a learner's personal data erased, their redemptions kept."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


class TestEraseLearner:
    def test_erases_a_learner_and_keeps_the_redemption(self, enrollment_offer, make_code, learner, running_session):
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip="192.0.2.1")
        out = run_command("erase_learner", "learner")
        assert out.startswith(f"Erased learner: now erased-{learner.pk} (user id {learner.pk}).")
        assert "Cleared redemptions: 1," in out
        assert Redemption.objects.get().client_ip is None
        assert AuditEvent.objects.get(action=AuditEvent.Action.ERASED).detail["user_id"] == learner.pk

    def test_staff_are_refused_with_a_code(self, staff):
        with pytest.raises(CommandError, match=r"^staff_not_erasable: "):
            run_command("erase_learner", "staff")
        assert not AuditEvent.objects.exists()

    def test_an_unknown_user_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"^invalid_input: There is no user 'nobody'"):
            run_command("erase_learner", "nobody")
