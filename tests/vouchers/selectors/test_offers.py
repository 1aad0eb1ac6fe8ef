"""Reads of offers (tessera.vouchers.selectors.offers): one by number, the list newest first, and the
staff overview by course and session with the batches and codes issued."""

import pytest
from django.db import connection

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Product
from tessera.vouchers.selectors.offers import offer_numbered, offers_listed, offers_overview


class TestOfferNumbered:
    def test_finds_the_offer(self, enrollment_offer):
        assert offer_numbered(enrollment_offer.pk) == enrollment_offer

    def test_an_unknown_number_is_not_found(self, db):
        with pytest.raises(DoesNotExist, match=r"^There is no offer 999\.$"):
            offer_numbered(999)


class TestOffersListed:
    def test_newest_first(self, enrollment_offer, proctoring_offer):
        assert list(offers_listed()) == [proctoring_offer, enrollment_offer]


class TestOffersOverview:
    def test_each_offer_with_its_batches_and_codes_issued(self, enrollment_offer, proctoring_offer, make_batch):
        make_batch(enrollment_offer, count=3)
        make_batch(enrollment_offer, count=4)
        counted = {offer.pk: (offer.batch_count, offer.issued) for offer in offers_overview()}
        assert counted == {enrollment_offer.pk: (2, 7), proctoring_offer.pk: (0, 0)}

    def test_by_course_then_by_when_the_session_starts(self, make_offer, running_session, ended_session):
        running = make_offer(Product.ENROLLMENT, running_session)
        ended = make_offer(Product.REACTIVATION, ended_session)
        assert list(offers_overview()) == [ended, running]

    @pytest.mark.xfail(
        connection.vendor == "sqlite", strict=True,
        reason="SQLite sorts the offers without a session (NULL) first; the docstring and PostgreSQL put them last",
    )  # fmt: skip
    def test_offers_for_any_session_come_last(self, make_offer, enrollment_offer):
        anywhere = make_offer(Product.REACTIVATION, None)
        assert list(offers_overview()) == [enrollment_offer, anywhere]

    def test_one_sessions_offers(self, enrollment_offer, reactivation_offer):
        assert list(offers_overview(session_slug="python-2026")) == [enrollment_offer]
        assert list(offers_overview(session_slug="no-such-session")) == []
