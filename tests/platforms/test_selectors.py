"""Reads through the calling platform: another platform's ids are not found; live codes counted
per session and product."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tessera.catalog.models import CourseSession
from tessera.core.errors import DoesNotExist
from tessera.platforms import selectors
from tessera.platforms.catalog import CourseFields, SessionFields, course_upsert, session_upsert
from tessera.platforms.models import Platform, PlatformSession
from tessera.platforms.selectors import (
    courses_by_external_id,
    live_codes_by_product,
    platform_batch,
    platform_course,
    platform_offer,
    platform_offers,
    platform_session,
    sessions_by_external_id,
)
from tessera.platforms.services import Credentials
from tessera.vouchers.models import Batch, Code, Offer, Product

pytestmark = pytest.mark.django_db


def catalog(platform: Platform, now: datetime, sessions: tuple[str, ...] = ("s1",)) -> list[PlatformSession]:
    course_upsert(platform=platform, external_id="c1", course=CourseFields("Course"), actor="t")
    fields = SessionFields(title="Run", starts_at=now, ends_at=now + timedelta(weeks=6), reactivation_enabled=True)
    return [
        session_upsert(platform=platform, course_external_id="c1", external_id=external_id, session=fields,
                       actor="t").row
        for external_id in sessions
    ]  # fmt: skip


@pytest.fixture
def a(platform_a: Credentials, now: datetime) -> Platform:
    catalog(platform_a.platform, now)
    return platform_a.platform


@pytest.fixture
def b(platform_b: Credentials, now: datetime) -> Platform:
    catalog(platform_b.platform, now)
    return platform_b.platform


class TestCatalog:
    def test_a_course_and_a_session_by_the_platforms_ids(self, a: Platform, b: Platform) -> None:
        assert platform_course(a, "c1").course.slug == "moodle-a-c1"
        assert platform_session(a, "c1", "s1").session.slug == "moodle-a-s1"
        assert platform_session(b, "c1", "s1").session.slug == "edx-b-s1"

    @pytest.mark.parametrize(("course", "session"), [("c2", "s1"), ("c1", "s2"), ("c1\x00", "s1"), ("c1", "s\x00")])
    def test_anything_else_is_not_found(self, a: Platform, course: str, session: str) -> None:
        with pytest.raises(DoesNotExist):
            platform_session(a, course, session)
        with pytest.raises(DoesNotExist):
            platform_course(a, course if course != "c1" else "c2")

    def test_many_by_external_id_in_chunks(
        self, a: Platform, now: datetime, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
    ) -> None:
        catalog(a, now, sessions=("s2", "s3", "s4"))
        monkeypatch.setattr(selectors, "CHUNK", 2)
        with django_assert_num_queries(3):  # five ids, two a query
            found = sessions_by_external_id(a, ["s1", "s2", "s3", "s4", "nope"])
        assert sorted(found) == ["s1", "s2", "s3", "s4"]
        assert found["s3"].course.external_id == "c1"
        assert list(courses_by_external_id(a, ["c1", "c9"])) == ["c1"]


class TestLiveCodes:
    def test_by_session_and_product_only_codes_that_can_still_be_redeemed(
        self, a: Platform, now: datetime, make_offer: Callable[..., Offer], make_batch: Callable[..., Batch]
    ) -> None:
        first, second = catalog(a, now, sessions=("s1", "s2"))
        make_batch(make_offer(Product.ENROLLMENT, first.session), count=3)
        make_batch(make_offer(Product.REACTIVATION, first.session), count=2)
        make_batch(make_offer(Product.ENROLLMENT, second.session), count=1)
        spent = make_batch(make_offer(Product.ENROLLMENT, second.session), count=4)
        Code.objects.filter(pk__in=list(spent.codes.values_list("pk", flat=True)[:1])).update(uses=1)
        Code.objects.filter(pk__in=list(spent.codes.values_list("pk", flat=True)[1:2])).update(revoked_at=now)
        Batch.objects.filter(pk=make_batch(make_offer(Product.ENROLLMENT, second.session)).pk).update(revoked_at=now)
        Batch.objects.filter(pk=make_batch(make_offer(Product.ENROLLMENT, second.session)).pk).update(expires_at=now)
        make_batch(make_offer(Product.ENROLLMENT, None), count=5)  # any session: none of these
        counts = live_codes_by_product([first.session_id, second.session_id, 0])
        assert counts == {first.session_id: {"enrollment": 3, "reactivation": 2}, second.session_id: {"enrollment": 3}}

    def test_no_sessions_no_counts(self, db: None) -> None:
        assert live_codes_by_product([]) == {}


class TestOffersAndBatches:
    def test_a_platform_reads_only_offers_for_its_own_sessions(
        self, a: Platform, b: Platform, make_offer: Callable[..., Offer], make_batch: Callable[..., Batch],
        running_session: CourseSession,
    ) -> None:  # fmt: skip
        mine = make_offer(Product.ENROLLMENT, platform_session(a, "c1", "s1").session)
        theirs = make_offer(Product.ENROLLMENT, platform_session(b, "c1", "s1").session)
        make_offer(Product.ENROLLMENT, running_session)  # one of Tessera's own sessions
        make_offer(Product.ENROLLMENT, None)  # any session: no platform's
        assert list(platform_offers(a)) == [mine]
        assert platform_offer(a, mine.pk) == mine
        with pytest.raises(DoesNotExist):
            platform_offer(a, theirs.pk)
        batch = make_batch(theirs)
        assert platform_batch(b, batch.pk) == batch
        with pytest.raises(DoesNotExist):
            platform_batch(a, batch.pk)
