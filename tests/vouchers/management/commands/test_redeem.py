"""`tessera redeem`: a code redeemed for a named learner in a session or for an assessment, as the pages do."""

import pytest
from django.core.management.base import CommandError

from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.vouchers import codes
from tessera.vouchers.errors import CodeNotFound
from tessera.vouchers.models import Redemption
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


class TestRedeem:
    def test_a_code_is_redeemed_for_the_named_learner(self, enrollment_offer, make_code, learner, running_session):
        out = run_command("redeem", make_code(enrollment_offer), "--user", "learner", "--session", running_session.slug)
        assert "Redeemed for learner: enrollment" in out
        assert Enrollment.objects.get(user=learner).active

    def test_a_refusal_prints_its_code(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        run_command("redeem", code, "--user", "learner", "--session", running_session.slug)
        with pytest.raises(CommandError, match=r"^already_redeemed: "):
            run_command("redeem", code, "--user", "learner", "--session", running_session.slug)

    def test_an_unknown_session_is_invalid_input(self, enrollment_offer, make_code, learner):
        with pytest.raises(CommandError, match=r"^invalid_input: "):
            run_command("redeem", make_code(enrollment_offer), "--user", "learner", "--session", "nope")
        assert not Redemption.objects.exists()

    @pytest.mark.usefixtures("ratelimit_clock")
    def test_staff_are_not_held_to_the_learners_rate_limits(
        self, enrollment_offer, make_code, learner, running_session, settings
    ):
        settings.TESSERA_FAILED_ATTEMPTS = [(1, 60)]
        with pytest.raises(CommandError, match=r"^not_found: "):
            run_command("redeem", codes.generate(1)[0], "--user", "learner", "--session", running_session.slug)
        with pytest.raises(CodeNotFound):  # not counted: the learner has their one guess left
            voucher_redeem(code=codes.generate(1)[0], user=learner, session=running_session)
        out = run_command("redeem", make_code(enrollment_offer), "--user", "learner", "--session", running_session.slug)
        assert "Redeemed for learner: enrollment" in out  # while the learner is at the limit


class TestRedeemForAnAssessment:
    def test_a_code_grants_the_named_learner_the_assessment(self, assessment_offer, make_code, learner, assessment):
        out = run_command("redeem", make_code(assessment_offer), "--user", "learner", "--assessment", assessment.slug)
        assert "Redeemed for learner: assessment python-exam (3 attempts given)." in out
        assert AssessmentEntitlement.objects.get(user=learner).attempts == 3

    def test_a_session_and_an_assessment_together_are_refused_by_the_parser(
        self, assessment_offer, make_code, learner, assessment, running_session
    ):
        with pytest.raises(CommandError, match="not allowed with argument"):
            run_command("redeem", make_code(assessment_offer), "--user", "learner", "--assessment", assessment.slug,
                        "--session", running_session.slug)  # fmt: skip
        assert not Redemption.objects.exists()

    def test_an_unknown_assessment_is_invalid_input(self, assessment_offer, make_code, learner):
        with pytest.raises(CommandError, match=r"^invalid_input: There is no assessment"):
            run_command("redeem", make_code(assessment_offer), "--user", "learner", "--assessment", "nope")
