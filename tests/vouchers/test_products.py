"""Tests for tessera.vouchers.products: what an enrollment holds already, judged once per product
(`holds`) and read alike by the product's refusal and by the learner pages, which offer no voucher
form for a product held (tessera.web.selectors, tested in tests/web/test_pages.py)."""

from datetime import timedelta

import pytest

from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.vouchers.models import Offer, Product
from tessera.vouchers.products import ASSESSMENT, SESSION, product_rule, products_at, products_held

DAY = timedelta(days=1)


def enrollment(session, user, now, *, active=True, proctored=False, reactivated_for=None) -> Enrollment:
    until = now + reactivated_for if reactivated_for is not None else None
    return Enrollment(user=user, session=session, active=active, proctored=proctored, reactivated_until=until)


class TestHolds:
    @pytest.mark.parametrize(
        ("state", "held"),
        [({"active": True}, {Product.ENROLLMENT}),
         ({"active": False}, set()),
         ({"active": True, "proctored": True}, {Product.ENROLLMENT, Product.PROCTORING}),
         ({"active": False, "reactivated_for": DAY}, {Product.REACTIVATION}),
         ({"active": False, "reactivated_for": -DAY}, set())],
    )  # fmt: skip
    def test_each_product_judges_what_an_enrollment_holds(self, running_session, learner, now, state, held):
        assert products_held(enrollment(running_session, learner, now, **state), now) == held

    def test_no_enrollment_holds_nothing(self, now):
        assert products_held(None, now) == set()
        assert not any(product_rule(name).holds(None, now) for name in Product.values)

    @pytest.mark.parametrize(
        ("product", "state", "session", "reason"),
        [(Product.ENROLLMENT, {"active": True}, "running_session", "You are already enrolled"),
         (Product.PROCTORING, {"active": True, "proctored": True}, "running_session", "already booked proctoring"),
         (Product.REACTIVATION, {"active": False, "reactivated_for": DAY}, "ended_session", "already reactivated")],
    )  # fmt: skip
    def test_a_product_held_is_refused_by_its_rule(self, request, learner, now, product, state, session, reason):
        session = request.getfixturevalue(session)
        held = enrollment(session, learner, now, **state)
        assert product_rule(product).holds(held, now)
        assert reason in product_rule(product).refusal(user=learner, place=session, holding=held, now=now)


class TestPlaces:
    def test_three_products_are_had_in_a_session_and_one_for_an_assessment(self):
        assert products_at(SESSION) == [Product.ENROLLMENT, Product.PROCTORING, Product.REACTIVATION]
        assert products_at(ASSESSMENT) == [Product.ASSESSMENT]

    def test_an_enrollment_never_holds_an_assessment(self, running_session, learner, now):
        assert Product.ASSESSMENT not in products_held(enrollment(running_session, learner, now), now)


class TestAssessmentRule:
    rule = product_rule(Product.ASSESSMENT)

    def _offer(self, assessment, **fields) -> Offer:
        return Offer(product=Product.ASSESSMENT, assessment=assessment, **fields)

    def test_a_newcomer_may_get_it_and_an_ended_entitlement_holds_nothing(self, assessment, learner, now):
        ended = AssessmentEntitlement(user=learner, assessment=assessment, active=False)
        for holding in (None, ended):
            assert not self.rule.holds(holding, now)
            assert self.rule.refusal(user=learner, place=assessment, holding=holding, now=now,
                                     offer=self._offer(assessment)) is None  # fmt: skip

    @pytest.mark.parametrize(
        ("held", "offer", "reason"),
        [(1, {}, "already hold this assessment"),
         (1, {"attempts": 1}, "already hold this assessment"),
         (3, {"attempts": 1, "adds_attempts": True}, "You hold 3 of the 3 attempts"),
         (2, {"attempts": 2, "adds_attempts": True}, "You hold 2 of the 3 attempts"),
         (2, {"attempts": 1, "adds_attempts": True}, None),
         (1, {"adds_attempts": True}, "You hold 1 of the 3 attempts")],
    )  # fmt: skip
    def test_a_holder_gets_more_attempts_only_from_an_offer_that_adds_them_within_the_allowance(
        self, assessment, learner, now, held, offer, reason
    ):
        holding = AssessmentEntitlement(user=learner, assessment=assessment, attempts=held)
        refusal = self.rule.refusal(user=learner, place=assessment, holding=holding, now=now,
                                    offer=self._offer(assessment, **offer))  # fmt: skip
        assert refusal is None if reason is None else reason in refusal

    def test_a_code_gives_the_offers_attempts_never_more_than_the_allowance(self, assessment):
        assert self.rule.attempts_given(offer=self._offer(assessment), place=assessment) == 3
        assert self.rule.attempts_given(offer=self._offer(assessment, attempts=2), place=assessment) == 2
        assessment.attempts = 1  # lowered after the offer was made
        assert self.rule.attempts_given(offer=self._offer(assessment, attempts=2), place=assessment) == 1

    def test_session_products_give_no_attempts(self, running_session):
        offer = Offer(product=Product.ENROLLMENT, session=running_session)
        assert product_rule(Product.ENROLLMENT).attempts_given(offer=offer, place=running_session) is None
