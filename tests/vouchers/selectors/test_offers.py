"""Reads of offers (tessera.vouchers.selectors.offers): one by number, the list newest first, the
staff overview by course and session with the batches and codes issued, and the offers whose store
links a course page shows."""

from datetime import timedelta

import pytest
from django.db import connection

from tessera.core.errors import DoesNotExist
from tessera.vouchers.models import Product
from tessera.vouchers.selectors.offers import offer_numbered, offers_listed, offers_on_sale, offers_overview

SHOP = "https://shop.example/"


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


class TestOffersOnSale:
    """Per product shown on a session's page, the one offer whose store link it shows."""

    def test_the_sessions_own_offer_comes_before_one_for_any_session(self, make_offer, running_session, now):
        own = make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "own")
        make_offer(Product.ENROLLMENT, None, store_url=SHOP + "anywhere")  # newer, yet second
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {Product.ENROLLMENT: own}

    def test_an_offer_for_any_session_stands_in_when_the_session_has_none(self, make_offer, running_session, now):
        anywhere = make_offer(Product.PROCTORING, None, store_url=SHOP + "anywhere")
        assert offers_on_sale(running_session, [Product.PROCTORING], now) == {Product.PROCTORING: anywhere}

    def test_each_product_gets_its_own_offer(self, make_offer, running_session, now):
        seat = make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "seat")
        proctoring = make_offer(Product.PROCTORING, running_session, store_url=SHOP + "proctoring")
        shown = offers_on_sale(running_session, [Product.ENROLLMENT, Product.PROCTORING], now)
        assert shown == {Product.ENROLLMENT: seat, Product.PROCTORING: proctoring}

    def test_the_newest_of_the_sessions_offers_wins(self, make_offer, running_session, now):
        make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "old")
        newer = make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "new")
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {Product.ENROLLMENT: newer}

    def test_offers_without_a_store_link_are_passed_over(self, make_offer, running_session, now):
        linked = make_offer(Product.ENROLLMENT, None, store_url=SHOP + "anywhere")
        make_offer(Product.ENROLLMENT, running_session)  # the session's own, but no link
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {Product.ENROLLMENT: linked}

    def test_no_store_link_at_all_means_nothing_shown(self, enrollment_offer, running_session, now):
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {}

    @pytest.mark.parametrize(
        "inactive",
        [
            {"auto_subscribe": False},
            {"sale_starts_at": timedelta(days=1)},
            {"sale_ends_at": timedelta(days=-1)},
        ],
    )
    def test_an_inactive_offer_is_passed_over(self, make_offer, running_session, now, inactive):
        fields = {name: now + value if isinstance(value, timedelta) else value for name, value in inactive.items()}
        make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "inactive", **fields)
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {}

    def test_an_open_sale_window_counts_as_on_sale(self, make_offer, running_session, now):
        window = {"sale_starts_at": now - timedelta(days=1), "sale_ends_at": now + timedelta(days=1)}
        open_now = make_offer(Product.ENROLLMENT, running_session, store_url=SHOP + "open", **window)
        assert offers_on_sale(running_session, [Product.ENROLLMENT], now) == {Product.ENROLLMENT: open_now}

    def test_other_sessions_and_products_not_shown_are_left_out(self, make_offer, running_session, ended_session, now):
        make_offer(Product.REACTIVATION, ended_session, store_url=SHOP + "other-session")
        make_offer(Product.PROCTORING, running_session, store_url=SHOP + "not-shown")
        assert offers_on_sale(running_session, [Product.ENROLLMENT, Product.REACTIVATION], now) == {}
