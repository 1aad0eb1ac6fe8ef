"""What a learner is told once a code is redeemed (tessera.web.messages), for each product."""

from datetime import timedelta

from tessera.catalog.models import Enrollment
from tessera.vouchers.models import Product, Redemption
from tessera.web.messages import redeemed_message


def redemption_of(product: str, learner, session) -> Redemption:  # type: ignore[no-untyped-def]
    return Redemption(product=product, user=learner, session=session)


def test_an_enrollment_says_where(learner, running_session):
    message = redeemed_message(redemption_of(Product.ENROLLMENT, learner, running_session), running_session)
    assert message == f"You are enrolled in {running_session}."


def test_proctoring_says_it_is_booked(learner, running_session):
    message = redeemed_message(redemption_of(Product.PROCTORING, learner, running_session), running_session)
    assert message == f"Proctoring is booked for {running_session}."


def test_a_reactivation_says_until_when(learner, ended_session, now):
    Enrollment.objects.create(user=learner, session=ended_session, reactivated_until=now + timedelta(weeks=8))
    message = redeemed_message(redemption_of(Product.REACTIVATION, learner, ended_session), ended_session)
    assert message == f"{ended_session} is reactivated for you until {now + timedelta(weeks=8):%Y-%m-%d}."


def test_a_reactivation_without_an_end_on_record_says_only_that(learner, ended_session):
    message = redeemed_message(redemption_of(Product.REACTIVATION, learner, ended_session), ended_session)
    assert message == f"{ended_session} is reactivated."
