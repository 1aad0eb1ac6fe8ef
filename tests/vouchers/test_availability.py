"""Sessions closed to redemptions by the app that owns them: every product refused alike, as
product_unavailable, by the redemption and the check without redeeming; other sessions untouched."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from tessera.catalog.models import CourseSession, Enrollment
from tessera.vouchers import availability
from tessera.vouchers.errors import ProductUnavailable
from tessera.vouchers.models import Offer, Product
from tessera.vouchers.products import SESSION, products_at
from tessera.vouchers.services import voucher_check, voucher_redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_slugs(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Sessions whose slug is in the set are closed, by a check registered as an app would."""
    closed: set[str] = set()
    monkeypatch.setattr(availability, "_checks", [])
    availability.closed_check_register(lambda session: "Closed for good." if session.slug in closed else None)
    return closed


@pytest.mark.parametrize("product", products_at(SESSION))
def test_a_closed_session_refuses_every_product(
    closed_slugs: set[str], running_session: CourseSession, ended_session: CourseSession, learner: User,
    make_offer: Callable[..., Offer], make_code: Callable[..., str], product: str,
) -> None:  # fmt: skip
    session = ended_session if product == Product.REACTIVATION else running_session
    if product == Product.PROCTORING:
        Enrollment.objects.create(user=learner, session=session)
    code = make_code(make_offer(product, session))
    closed_slugs.add(session.slug)
    with pytest.raises(ProductUnavailable, match="Closed for good"):
        voucher_check(code=code, user=learner, session=session)
    with pytest.raises(ProductUnavailable, match="Closed for good"):
        voucher_redeem(code=code, user=learner, session=session)
    closed_slugs.clear()
    voucher_redeem(code=code, user=learner, session=session)  # open again: the same code goes through


def test_registering_a_check_twice_keeps_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(availability, "_checks", [])

    def check(session: CourseSession) -> str | None:
        return None

    availability.closed_check_register(check)
    availability.closed_check_register(check)
    assert availability._checks == [check]
