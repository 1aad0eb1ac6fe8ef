"""`tessera show`: a code, its status and uses, and each redemption with who, when and where."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers import codes
from tessera.vouchers.models import Redemption
from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


class TestShow:
    def test_shows_an_unused_code(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer, tag="fair")
        out = run_command("show", text.lower())
        assert f"Code:       {text}" in out
        assert "Status:     unused" in out
        assert "Uses:       0 of 1" in out
        assert "Session:    python-2026" in out
        assert "tag fair, country DE" in out
        assert "Redeemed:" not in out

    def test_shows_each_redemption_with_who_when_and_where(self, redeemed_code):
        redemption = Redemption.objects.get()
        out = run_command("show", redeemed_code)
        assert "Status:     redeemed" in out
        assert "Uses:       1 of 1" in out
        assert f"Redeemed:   {redemption.redeemed_at.isoformat()} by learner in python-2026 from 203.0.113.7" in out

    def test_an_assessments_code_names_the_assessment(self, assessment_offer, make_code, learner, assessment):
        text = make_code(assessment_offer)
        voucher_redeem(code=text, user=learner, assessment=assessment)
        out = run_command("show", text)
        assert "Assessment: python-exam" in out
        assert "by learner in python-exam from -" in out

    def test_an_unknown_code_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run_command("show", codes.generate(1)[0])

    def test_a_mistyped_code_is_refused_as_mistyped(self, enrollment_offer, make_code):
        text = make_code(enrollment_offer)
        typo = text[:-1] + ("0" if text[-1] != "0" else "1")
        with pytest.raises(CommandError, match="mistyped"):
            run_command("show", typo)
