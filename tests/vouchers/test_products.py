"""Tests for tessera.vouchers.products: what an enrollment holds already, judged once per product
(`holds`) and read alike by the product's refusal and by the learner pages, which offer no voucher
form for a product held (tessera.web.selectors, tested in tests/web/test_pages.py)."""

from datetime import timedelta

import pytest

from tessera.catalog.models import Enrollment
from tessera.vouchers.models import Product
from tessera.vouchers.products import product_rule, products_held

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
        assert reason in product_rule(product).refusal(user=learner, session=session, enrollment=held, now=now)
