"""A platform's courses and sessions: upserted by external id, idempotent, archived; a change that
would break issued codes refused unless forced; every change audited; tenancy."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from tessera.catalog.models import Course, CourseSession
from tessera.core.errors import DoesNotExist, InvalidInput
from tessera.platforms.catalog import (
    CourseFields,
    SessionFields,
    archived_by_its_platform,
    course_upsert,
    session_archive,
    session_upsert,
)
from tessera.platforms.errors import WouldBreakCodes
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession
from tessera.platforms.services import Credentials, platform_create
from tessera.vouchers.errors import NotEligible, ProductUnavailable
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer, Product
from tessera.vouchers.products import SESSION, products_at
from tessera.vouchers.selectors.codes import code_details
from tessera.vouchers.services import voucher_check, voucher_redeem
from tests.auditing import audited

pytestmark = pytest.mark.django_db
ACTOR = "platform:test"


@pytest.fixture
def a(platform_a: Credentials) -> Platform:
    return platform_a.platform


@pytest.fixture
def b(platform_b: Credentials) -> Platform:
    return platform_b.platform


def running(now: datetime, **changes: object) -> SessionFields:
    fields = SessionFields(
        title="2026 run", starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7),
        offers_proctored_certificate=True, reactivation_enabled=True,
    )  # fmt: skip
    return replace(fields, **changes)  # type: ignore[arg-type]


def ended(now: datetime, **changes: object) -> SessionFields:
    return running(now, starts_at=now - timedelta(weeks=10), ends_at=now - timedelta(weeks=2), **changes)


def course(platform: Platform, external_id: str = "py101", title: str = "Python") -> PlatformCourse:
    return course_upsert(platform=platform, external_id=external_id, course=CourseFields(title=title), actor=ACTOR).row


def session(
    platform: Platform, fields: SessionFields, external_id: str = "py101-2026", **kw: object
) -> PlatformSession:
    return session_upsert(
        platform=platform, course_external_id="py101", external_id=external_id, session=fields, actor=ACTOR, **kw
    ).row  # type: ignore[arg-type]


class TestCourses:
    def test_a_new_course_gets_a_course_of_tesseras_and_a_mapping_and_is_audited(self, a: Platform) -> None:
        with audited() as rows:
            upserted = course_upsert(
                platform=a, external_id="py101", course=CourseFields(title=" Python "), actor=ACTOR
            )
        assert upserted.created
        assert (upserted.row.course.slug, upserted.row.course.title) == ("moodle-a-py101", "Python")
        assert [(row.action, row.actor, row.detail["course"]) for row in rows] == [("course_created", ACTOR, "py101")]

    def test_the_same_course_again_changes_nothing_and_logs_nothing(self, a: Platform) -> None:
        course(a)
        with audited() as rows:
            again = course_upsert(platform=a, external_id="py101", course=CourseFields(title="Python"), actor=ACTOR)
        assert not again.created
        assert rows == []
        assert Course.objects.count() == 1

    def test_a_change_is_saved_and_logged_with_old_and_new_values(self, a: Platform) -> None:
        course(a)
        with audited() as rows:
            course_upsert(platform=a, external_id="py101", course=CourseFields(title="Python 3"), actor=ACTOR)
        assert Course.objects.get().title == "Python 3"
        assert [(row.action, row.detail["changed"]) for row in rows] == [
            ("course_changed", {"title": ["Python", "Python 3"]})
        ]

    @pytest.mark.parametrize(
        ("external_id", "title", "field"),
        [("", "T", "external_id"), ("  ", "T", "external_id"), ("a\nb", "T", "external_id"),
         ("x" * 256, "T", "external_id"), ("ok", " ", "title"), ("ok", "t" * 201, "title")],
    )  # fmt: skip
    def test_bad_input_is_refused_and_writes_nothing(
        self, a: Platform, external_id: str, title: str, field: str
    ) -> None:
        with audited() as rows, pytest.raises(InvalidInput) as refused:
            course_upsert(platform=a, external_id=external_id, course=CourseFields(title=title), actor=ACTOR)
        assert refused.value.field == field
        assert not Course.objects.exists()
        assert rows == []


class TestSlugs:
    def test_an_external_id_that_is_no_slug_is_slugified(self, a: Platform) -> None:
        assert course(a, "Python 101").course.slug == "moodle-a-python-101"

    def test_two_ids_with_the_same_slug_get_different_slugs(self, a: Platform) -> None:
        first, second = course(a, "Python 101"), course(a, "python-101")
        assert first.course.slug == "moodle-a-python-101"
        assert second.course.slug.startswith("moodle-a-python-101-")
        assert len(second.course.slug) == len("moodle-a-python-101-") + 8

    def test_a_long_or_unslugifiable_id_gets_a_digest_within_50_characters(self, a: Platform) -> None:
        long, foreign = course(a, "x" * 255), course(a, "日本語")
        assert len(long.course.slug) == 50
        assert long.course.slug.startswith("moodle-a-xxx")
        assert foreign.course.slug.startswith("moodle-a-")
        assert len(foreign.course.slug) == len("moodle-a-") + 8

    def test_platforms_whose_slugs_run_together_still_get_unique_slugs(self) -> None:
        first = platform_create(name="A", slug="a").platform
        second = platform_create(name="A B", slug="a-b").platform
        assert course(first, "b-c").course.slug == "a-b-c"
        assert course(second, "c").course.slug != "a-b-c"

    def test_the_slug_never_changes(self, a: Platform) -> None:
        course(a, "py101"), course(a, "py101", title="Renamed")
        assert (Course.objects.get().slug, Course.objects.get().title) == ("moodle-a-py101", "Renamed")


class TestSessions:
    def test_a_new_session_belongs_to_its_course_and_is_audited(self, a: Platform, now: datetime) -> None:
        course(a)
        with audited() as rows:
            upserted = session_upsert(platform=a, course_external_id="py101", external_id="py101-2026",
                                      session=running(now), actor=ACTOR)  # fmt: skip
        assert upserted.created
        stored = CourseSession.objects.get()
        assert (stored.slug, stored.course.slug, stored.state) == ("moodle-a-py101-2026", "moodle-a-py101", "active")
        assert (stored.offers_proctored_certificate, stored.reactivation_enabled) == (True, True)
        assert stored.source == CourseSession.Source.PLATFORM
        assert [(row.action, row.detail["session"], row.detail["course"]) for row in rows] == [
            ("session_created", "py101-2026", "py101")
        ]

    def test_the_same_session_again_changes_nothing_and_logs_nothing(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        with audited() as rows:
            again = session_upsert(platform=a, course_external_id="py101", external_id="py101-2026",
                                   session=running(now), actor=ACTOR)  # fmt: skip
        assert not again.created
        assert rows == []

    def test_a_change_is_logged_with_old_and_new_values(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        with audited() as rows:
            session(a, running(now, capacity=30, title="Spring"))
        stored = CourseSession.objects.get()
        assert (stored.capacity, stored.title) == (30, "Spring")
        assert [(row.action, row.detail["changed"]) for row in rows] == [
            ("session_changed", {"title": ["2026 run", "Spring"], "capacity": [None, 30]})
        ]

    def test_moments_are_logged_as_text(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        later = datetime(2030, 1, 1, tzinfo=UTC)
        with audited() as rows:
            session(a, running(now, ends_at=later))
        assert rows[0].detail["changed"]["ends_at"][1] == "2030-01-01T00:00:00+00:00"

    def test_a_session_of_an_unknown_course_is_not_found(self, a: Platform, now: datetime) -> None:
        with pytest.raises(DoesNotExist):
            session(a, running(now))
        assert not CourseSession.objects.exists()

    def test_a_session_named_under_another_course_moves_there(self, a: Platform, now: datetime) -> None:
        course(a)
        other = course(a, "py102")
        session(a, running(now))
        with audited() as rows:
            session_upsert(platform=a, course_external_id="py102", external_id="py101-2026", session=running(now),
                           actor=ACTOR)  # fmt: skip
        assert CourseSession.objects.get().course == other.course
        assert PlatformSession.objects.get().course == other
        assert rows[0].detail["changed"] == {"course": ["py101", "py102"]}

    @pytest.mark.parametrize(
        ("changes", "field"),
        [({"ends_at": datetime(2020, 1, 1, tzinfo=UTC)}, "ends_at"),
         ({"starts_at": datetime(2026, 1, 1)}, "starts_at"),  # no offset, on purpose
         ({"enrollment_opens_at": datetime(2026, 5, 1, tzinfo=UTC),
           "enrollment_closes_at": datetime(2026, 4, 1, tzinfo=UTC)}, "enrollment_closes_at"),
         ({"capacity": -1}, "capacity"), ({"reactivation_weeks": 0}, "reactivation_weeks"),
         ({"reactivation_weeks": 40_000}, "reactivation_weeks"), ({"state": "deleted"}, "state"),
         ({"title": "t" * 201}, "title")],
    )  # fmt: skip
    def test_bad_input_is_refused_and_writes_nothing(
        self, a: Platform, now: datetime, changes: dict[str, object], field: str
    ) -> None:
        course(a)
        with audited() as rows, pytest.raises(InvalidInput) as refused:
            session(a, running(now, **changes))
        assert refused.value.field == field
        assert not CourseSession.objects.exists()
        assert rows == []


class TestTenancy:
    def test_the_same_external_ids_under_two_platforms_are_two_courses_and_sessions(
        self, a: Platform, b: Platform, now: datetime
    ) -> None:
        course(a), course(b)
        session(a, running(now)), session(b, running(now, title="B's"))
        assert Course.objects.count() == 2
        assert {s.slug: s.title for s in CourseSession.objects.all()} == {
            "moodle-a-py101-2026": "2026 run", "edx-b-py101-2026": "B's",
        }  # fmt: skip

    def test_a_platform_cannot_reach_another_platforms_session(self, a: Platform, b: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        with pytest.raises(DoesNotExist):
            session_archive(platform=b, course_external_id="py101", external_id="py101-2026", actor=ACTOR)
        with pytest.raises(DoesNotExist):
            session(b, running(now))  # b has no course py101
        assert CourseSession.objects.get().state == "active"


@pytest.fixture
def live_codes(make_offer: Callable[..., Offer], make_batch: Callable[..., Batch]) -> Callable[..., Batch]:
    """live_codes(session, product, count) -> a batch of live codes for an offer of that session."""

    def make(platform_session: PlatformSession, product: str, count: int = 1, **fields: object) -> Batch:
        return make_batch(make_offer(product, platform_session.session), count=count, **fields)

    return make


class TestChangesThatBreakCodes:
    @pytest.mark.parametrize(
        ("change", "product"),
        [({"reactivation_enabled": False}, Product.REACTIVATION),
         ({"offers_proctored_certificate": False}, Product.PROCTORING),
         ({"state": "archived"}, Product.ENROLLMENT)],
    )  # fmt: skip
    def test_are_refused_with_what_they_would_break(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch], change: dict[str, object], product: str
    ) -> None:
        course(a)
        mapped = session(a, running(now))
        live_codes(mapped, product, count=3)
        with audited() as rows, pytest.raises(WouldBreakCodes) as refused:
            session(a, running(now, **change))
        assert refused.value.would_break == {product: 3}
        assert refused.value.sessions == ["py101-2026"]
        assert SessionFields.of(CourseSession.objects.get()) == running(now)
        assert rows == []

    def test_archiving_counts_the_live_codes_of_every_product(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch]
    ) -> None:
        course(a)
        mapped = session(a, running(now))
        for product in products_at(SESSION):
            live_codes(mapped, product, count=2)
        with pytest.raises(WouldBreakCodes) as refused:
            session_archive(platform=a, course_external_id="py101", external_id="py101-2026", actor=ACTOR)
        assert refused.value.would_break == {"enrollment": 2, "proctoring": 2, "reactivation": 2}

    def test_codes_that_cannot_be_redeemed_anyway_do_not_count(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch], make_offer: Callable[..., Offer],
        make_batch: Callable[..., Batch],
    ) -> None:  # fmt: skip
        course(a)
        mapped = session(a, running(now))
        Batch.objects.filter(pk=live_codes(mapped, Product.REACTIVATION).pk).update(revoked_at=now)
        Code.objects.filter(batch=live_codes(mapped, Product.REACTIVATION)).update(revoked_at=now)
        Batch.objects.filter(pk=live_codes(mapped, Product.REACTIVATION).pk).update(expires_at=now)
        Code.objects.filter(batch=live_codes(mapped, Product.REACTIVATION)).update(uses=1)
        make_batch(make_offer(Product.REACTIVATION, None))  # for any session: still usable elsewhere
        session(a, running(now, reactivation_enabled=False))
        assert not CourseSession.objects.get().reactivation_enabled

    def test_forced_they_are_made_and_audited_with_what_they_broke(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch]
    ) -> None:
        course(a)
        mapped = session(a, running(now))
        live_codes(mapped, Product.REACTIVATION, count=4)
        with audited() as rows:
            session(a, running(now, reactivation_enabled=False), force=True)
        assert not CourseSession.objects.get().reactivation_enabled
        assert [(row.action, row.detail["forced"], row.detail["broke"]) for row in rows] == [
            ("session_changed", True, {"reactivation": 4})
        ]

    def test_changes_that_break_nothing_need_no_force(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch]
    ) -> None:
        course(a)
        mapped = session(a, running(now))
        live_codes(mapped, Product.ENROLLMENT)
        session(a, running(now, reactivation_enabled=False, offers_proctored_certificate=False, capacity=5))
        assert CourseSession.objects.get().capacity == 5


class TestArchiving:
    def test_archiving_keeps_the_session_and_is_audited_once(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        with audited() as rows:
            for _ in range(2):
                archived = session_archive(platform=a, course_external_id="py101", external_id="py101-2026",
                                           actor=ACTOR)  # fmt: skip
        assert archived.session.state == CourseSession.objects.get().state == "archived"
        assert [(row.action, row.detail["changed"]) for row in rows] == [
            ("session_archived", {"state": ["active", "archived"]})
        ]

    def test_a_put_with_state_archived_archives_too(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        with audited() as rows:
            session(a, running(now, state="archived"))
        assert [row.action for row in rows] == ["session_archived"]

    def test_forced_archiving_records_what_it_broke(
        self, a: Platform, now: datetime, live_codes: Callable[..., Batch]
    ) -> None:
        course(a)
        live_codes(session(a, running(now)), Product.ENROLLMENT, count=2)
        with audited() as rows:
            session_archive(platform=a, course_external_id="py101", external_id="py101-2026", force=True, actor=ACTOR)
        assert (rows[0].action, rows[0].detail["broke"]) == ("session_archived", {"enrollment": 2})

    def test_a_session_named_under_another_course_is_not_found(self, a: Platform, now: datetime) -> None:
        course(a), course(a, "py102")
        session(a, running(now))
        with pytest.raises(DoesNotExist):
            session_archive(platform=a, course_external_id="py102", external_id="py101-2026", actor=ACTOR)


class TestRedeemingOnAnArchivedSession:
    @pytest.mark.parametrize("product", products_at(SESSION))
    def test_no_product_can_be_redeemed_or_checked(
        self, a: Platform, now: datetime, learner: User, make_offer: Callable[..., Offer],
        make_code: Callable[..., str], product: str,
    ) -> None:  # fmt: skip
        course(a)
        mapped = session(a, ended(now) if product == Product.REACTIVATION else running(now))
        code = make_code(make_offer(product, mapped.session))
        session_archive(platform=a, course_external_id="py101", external_id="py101-2026", force=True, actor=ACTOR)
        archived = CourseSession.objects.get()
        with pytest.raises(ProductUnavailable, match="withdrawn"):
            voucher_check(code=code, user=learner, session=archived)
        with pytest.raises(ProductUnavailable, match="withdrawn"):
            voucher_redeem(code=code, user=learner, session=archived)
        assert AuditEvent.objects.filter(action="refused", detail__reason="product_unavailable").exists()

    def test_the_codes_stay_queryable(
        self, a: Platform, now: datetime, make_offer: Callable[..., Offer], make_code: Callable[..., str]
    ) -> None:
        course(a)
        code = make_code(make_offer(Product.ENROLLMENT, session(a, running(now)).session))
        session_archive(platform=a, course_external_id="py101", external_id="py101-2026", force=True, actor=ACTOR)
        assert code_details(code).status == "unused"

    def test_an_unarchived_session_takes_redemptions_again(
        self, a: Platform, now: datetime, learner: User, make_offer: Callable[..., Offer],
        make_code: Callable[..., str],
    ) -> None:  # fmt: skip
        course(a)
        code = make_code(make_offer(Product.ENROLLMENT, session(a, running(now)).session))
        session(a, running(now, state="archived"), force=True)
        session(a, running(now))
        voucher_redeem(code=code, user=learner, session=CourseSession.objects.get())

    def test_tesseras_own_archived_sessions_keep_their_rules(
        self, ended_session: CourseSession, running_session: CourseSession, learner: User,
        make_offer: Callable[..., Offer], make_code: Callable[..., str],
    ) -> None:  # fmt: skip
        assert archived_by_its_platform(ended_session) is None
        voucher_redeem(code=make_code(make_offer(Product.REACTIVATION, ended_session)), user=learner,
                       session=ended_session)  # fmt: skip
        running_session.state = CourseSession.State.ARCHIVED
        running_session.save()
        with pytest.raises(NotEligible):
            voucher_redeem(code=make_code(make_offer(Product.ENROLLMENT, running_session)), user=learner,
                           session=running_session)  # fmt: skip
