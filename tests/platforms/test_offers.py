"""Offers and batches for a platform's sessions, through the calling platform only."""

from datetime import datetime, timedelta

import pytest

from tessera.catalog.models import CourseSession
from tessera.core.errors import DoesNotExist, InvalidInput
from tessera.platforms.catalog import CourseFields, SessionFields, course_upsert, session_upsert
from tessera.platforms.models import Platform
from tessera.platforms.offers import platform_batch_create, platform_offer_create
from tessera.platforms.selectors import platform_batch, platform_offer
from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent, Offer, Product
from tessera.vouchers.services import IN_REQUEST_MAX, BatchSpec

pytestmark = pytest.mark.django_db


def with_session(platform: Platform, now: datetime, external_id: str = "s1") -> CourseSession:
    actor = platform.actor
    course_upsert(platform=platform, external_id="c1", course=CourseFields("Course"), actor=actor)
    fields = SessionFields(title="Run", starts_at=now - timedelta(days=1), ends_at=now + timedelta(weeks=6))
    return session_upsert(
        platform=platform, course_external_id="c1", external_id=external_id, session=fields, actor=actor
    ).row.session


@pytest.fixture
def a(platform_a: Credentials, now: datetime) -> Platform:
    with_session(platform_a.platform, now)
    return platform_a.platform


@pytest.fixture
def b(platform_b: Credentials, now: datetime) -> Platform:
    with_session(platform_b.platform, now)
    return platform_b.platform


def offer_of(platform: Platform, session: str = "s1") -> Offer:
    return platform_offer_create(
        platform=platform, session=session, name="Enroll", product=Product.ENROLLMENT, actor=platform.actor
    )


def test_an_offer_for_a_platforms_session_is_created_and_audited_as_the_platform(a: Platform) -> None:
    offer = offer_of(a)
    assert offer.session == CourseSession.objects.get(platform_session__platform=a)
    event = AuditEvent.objects.get(action="offer_created")
    assert (event.actor, event.detail["offer_id"]) == (a.actor, offer.pk)


def test_another_platforms_session_is_not_found(a: Platform, b: Platform) -> None:
    with pytest.raises(DoesNotExist):
        offer_of(a, session="nope")
    b_offer = offer_of(b)
    with pytest.raises(DoesNotExist):
        platform_offer(a, b_offer.pk)
    with pytest.raises(DoesNotExist):
        platform_batch_create(platform=a, offer_id=b_offer.pk, spec=BatchSpec(count=1, country="DE"), actor=a.actor)
    assert not b_offer.batches.exists()


def test_a_batch_for_a_platforms_offer_is_written_and_found_only_by_it(a: Platform, b: Platform) -> None:
    batch = platform_batch_create(
        platform=a, offer_id=offer_of(a).pk, spec=BatchSpec(count=3, country="de", tag="spring"), actor=a.actor
    )
    assert (batch.codes.count(), batch.country, batch.tag, batch.created_by) == (3, "DE", "spring", a.actor)
    assert AuditEvent.objects.get(action="created").batch_id == batch.pk
    assert platform_batch(a, batch.pk) == batch
    with pytest.raises(DoesNotExist):
        platform_batch(b, batch.pk)


def test_a_batch_too_large_for_one_request_is_refused(a: Platform) -> None:
    with pytest.raises(InvalidInput) as refused:
        platform_batch_create(platform=a, offer_id=offer_of(a).pk, spec=BatchSpec(count=IN_REQUEST_MAX + 1,
                              country="DE"), actor=a.actor)  # fmt: skip
    assert refused.value.field == "count"


def test_no_offer_or_batch_for_an_archived_session(a: Platform) -> None:
    offer = offer_of(a)
    CourseSession.objects.filter(pk=offer.session_id).update(state="archived")
    with pytest.raises(InvalidInput) as no_offer:
        offer_of(a)
    with pytest.raises(InvalidInput) as no_batch:
        platform_batch_create(platform=a, offer_id=offer.pk, spec=BatchSpec(count=1, country="DE"), actor=a.actor)
    assert (no_offer.value.field, no_batch.value.field) == ("session", "offer")
    assert not offer.batches.exists()
