"""What a learner holds (tessera.vouchers.selectors.entitlements): their enrollments and every code
they redeemed, newest first, and nobody else's."""

from tessera.vouchers.selectors.entitlements import entitlements_of
from tessera.vouchers.services import voucher_redeem


class TestEntitlementsOf:
    def test_the_learners_enrollments_and_redemptions_newest_first(
        self, enrollment_offer, proctoring_offer, reactivation_offer, make_code, learner, running_session,
        ended_session,
    ):  # fmt: skip
        enrolled = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        booked = voucher_redeem(code=make_code(proctoring_offer), user=learner, session=running_session)
        reactivated = voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        held = entitlements_of(learner)
        assert held.redemptions == [reactivated, booked, enrolled]
        assert [(e.session, e.proctored) for e in held.enrollments] == [
            (ended_session, False), (running_session, True),
        ]  # fmt: skip

    def test_nobody_elses(self, enrollment_offer, make_code, learner, other_learner, running_session):
        voucher_redeem(code=make_code(enrollment_offer), user=other_learner, session=running_session)
        held = entitlements_of(learner)
        assert (held.enrollments, held.redemptions) == ([], [])
