"""`tessera reverse`: a learner's redemption of a code, with the use given back or kept."""

import pytest
from django.core.management.base import CommandError

from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.vouchers import codes
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


class TestReverse:
    def test_reverse_ends_the_entitlement_and_gives_the_use_back(self, redeemed_code, learner, running_session):
        out = run_command("reverse", redeemed_code, "--user", "learner")
        assert f"Reversed learner's redemption of {redeemed_code}." in out
        assert not Enrollment.objects.get(user=learner, session=running_session).active
        redemption = Redemption.objects.get()
        assert redemption.reversed_at is not None
        assert redemption.reversed_by == "cli"
        assert Code.objects.get(pk=codes.parse(redeemed_code)).uses == 0

    def test_keep_use_leaves_the_use_spent(self, redeemed_code):
        run_command("reverse", redeemed_code, "--user", "learner", "--keep-use")
        assert Code.objects.get(pk=codes.parse(redeemed_code)).uses == 1

    def test_a_user_without_a_live_redemption_is_not_found(self, redeemed_code, other_learner):
        with pytest.raises(CommandError, match="not_found"):
            run_command("reverse", redeemed_code, "--user", "other_learner")
        assert Redemption.objects.get().reversed_at is None

    def test_reversing_twice_is_not_found_the_second_time(self, redeemed_code):
        run_command("reverse", redeemed_code, "--user", "learner")
        with pytest.raises(CommandError, match="not_found"):
            run_command("reverse", redeemed_code, "--user", "learner")


class TestReverseAnAssessment:
    def test_reverse_takes_the_attempts_back_and_ends_the_entitlement(
        self, assessment_offer, make_code, learner, assessment
    ):
        code = make_code(assessment_offer)
        voucher_redeem(code=code, user=learner, assessment=assessment)
        run_command("reverse", code, "--user", "learner")
        assert not AssessmentEntitlement.objects.get(user=learner).active
        assert Code.objects.get(pk=codes.parse(code)).uses == 0
