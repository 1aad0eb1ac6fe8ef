"""A platform's events, written in the transaction of the change they tell of: what each says,
that a change rolled back or refused leaves none, that they are numbered per platform without
gaps in commit order, and that a reactivation's end is told exactly once."""

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from tessera.catalog.models import Assessment, Course, Enrollment
from tessera.platforms.events import (
    Owner,
    _numbered_and_written,
    _numbered_then_written,
    _owner,
    on_voucher_redeemed,
    reactivations_expire,
)
from tessera.platforms.feed import wire_time
from tessera.platforms.models import (
    Platform,
    PlatformCourse,
    PlatformEvent,
    PlatformLearner,
    PlatformReactivation,
    PlatformSession,
)
from tessera.vouchers.errors import CodeExhausted
from tessera.vouchers.models import Batch, Offer, Product, Redemption
from tessera.vouchers.services import batch_revoke, offer_create, redemption_reverse, voucher_redeem
from tessera.vouchers.signals import voucher_redeemed_in_transaction
from tests.concurrency import race

Type = PlatformEvent.Type


def events_of(credentials: Any) -> list[PlatformEvent]:
    return list(PlatformEvent.objects.filter(platform=credentials.platform).order_by("seq"))


def kinds(credentials: Any) -> list[tuple[int, str]]:
    return [(event.seq, event.type) for event in events_of(credentials)]


@pytest.fixture
def mapped(events_session: Any, platform_a: Any) -> Any:
    """Platform A's session s-1 (a running session of its own course)."""
    return events_session(platform_a)


@pytest.fixture
def offer_on(make_offer: Any) -> Any:
    return lambda product, mapped: make_offer(product, mapped.session)


@pytest.mark.django_db
class TestWhatARedemptionWrites:
    def test_an_enrollment_is_a_code_redeemed_and_an_entitlement_granted_event(
        self, platform_a, mapped, offer_on, make_code, events_learner
    ):
        user = events_learner(platform_a, "u-1")
        code = make_code(offer_on(Product.ENROLLMENT, mapped))
        redemption = voucher_redeem(code=code, user=user, session=mapped.session)
        redeemed, granted = events_of(platform_a)
        about = {
            "learner": "u-1", "user": user.pk, "session": "s-1", "course": mapped.course.external_id,
            "product": "enrollment", "code": code, "redemption": redemption.pk,
        }  # fmt: skip
        assert (redeemed.seq, redeemed.type) == (1, Type.CODE_REDEEMED)
        assert redeemed.data == {**about, "redeemed_at": wire_time(redemption.redeemed_at)}
        assert (granted.seq, granted.type) == (2, Type.ENTITLEMENT_GRANTED)
        assert granted.data == {**about, "effect": {"enrolled": True}}
        assert redeemed.occurred_at == granted.occurred_at == redemption.redeemed_at
        assert Platform.objects.get(pk=platform_a.platform.pk).last_event_seq == 2

    def test_proctoring_grants_proctored(self, platform_a, mapped, offer_on, make_code, events_learner):
        user = events_learner(platform_a)
        voucher_redeem(code=make_code(offer_on(Product.ENROLLMENT, mapped)), user=user, session=mapped.session)
        voucher_redeem(code=make_code(offer_on(Product.PROCTORING, mapped)), user=user, session=mapped.session)
        granted = events_of(platform_a)[-1]
        assert (granted.seq, granted.type, granted.data["product"]) == (4, Type.ENTITLEMENT_GRANTED, "proctoring")
        assert granted.data["effect"] == {"proctored": True}

    def test_a_reactivation_grants_it_until_its_end_and_is_kept_until_then(
        self, platform_a, events_session, ended_session, reactivation_offer, make_code, events_learner
    ):
        events_session(platform_a, ended_session, "old-run")
        user = events_learner(platform_a)
        redemption = voucher_redeem(code=make_code(reactivation_offer), user=user, session=ended_session)
        until = Enrollment.objects.get(user=user, session=ended_session).reactivated_until
        granted = events_of(platform_a)[-1]
        assert granted.data["effect"] == {"reactivated_until": wire_time(until)}
        assert granted.data["session"] == "old-run"
        kept = PlatformReactivation.objects.get()
        assert (kept.redemption_id, kept.user_id, kept.until, kept.expired_event_at) == (
            redemption.pk,
            user.pk,
            until,
            None,
        )

    def test_a_user_who_is_not_the_platforms_learner_is_named_by_tessera_id_only(
        self, platform_a, mapped, offer_on, make_code, learner
    ):
        voucher_redeem(code=make_code(offer_on(Product.ENROLLMENT, mapped)), user=learner, session=mapped.session)
        assert [(event.data["learner"], event.data["user"]) for event in events_of(platform_a)] == [
            (None, learner.pk), (None, learner.pk),
        ]  # fmt: skip

    def test_another_platforms_learner_is_not_this_platforms(
        self, platform_a, platform_b, mapped, offer_on, make_code, events_learner
    ):
        user = events_learner(platform_b, "b-7")
        voucher_redeem(code=make_code(offer_on(Product.ENROLLMENT, mapped)), user=user, session=mapped.session)
        assert {event.data["learner"] for event in events_of(platform_a)} == {None}
        assert events_of(platform_b) == []


@pytest.mark.django_db
class TestOnlyWhatCommits:
    def test_a_session_of_no_platform_gets_no_event_for_no_query(
        self, platform_a, enrollment_offer, make_code, learner, running_session, django_assert_num_queries
    ):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        assert PlatformEvent.objects.count() == 0
        with django_assert_num_queries(0):
            on_voucher_redeemed(Redemption, redemption=redemption)

    def test_an_assessment_that_stands_alone_gets_no_event_for_no_query(
        self, platform_a, make_code, learner, assessment, django_assert_num_queries
    ):
        Assessment.objects.filter(pk=assessment.pk).update(course=None)
        assessment.refresh_from_db()
        offer = offer_create(name="placement", product=Product.ASSESSMENT, assessment=assessment)
        redemption = voucher_redeem(code=make_code(offer), user=learner, assessment=assessment)
        with django_assert_num_queries(0):
            on_voucher_redeemed(Redemption, redemption=redemption)
        redemption_reverse(redemption=redemption, actor="staff")
        assert PlatformEvent.objects.count() == 0

    def test_an_assessment_of_a_course_of_tesseras_own_tells_no_platform(
        self, platform_a, assessment_offer, make_code, learner, assessment
    ):
        redemption = voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        redemption_reverse(redemption=redemption, actor="staff")
        batch_revoke(batch=Batch.objects.get(offer=assessment_offer), actor="user:1")
        assert PlatformEvent.objects.count() == 0

    def test_a_platforms_session_is_looked_up_once(
        self, platform_a, mapped, offer_on, make_code, learner, django_assert_num_queries
    ):
        code = make_code(offer_on(Product.ENROLLMENT, mapped))
        with transaction.atomic():
            redemption = voucher_redeem(code=code, user=learner, session=mapped.session)
            PlatformEvent.objects.all().delete()
            # The session's owner, then the events numbered and written: one statement on PostgreSQL, two on SQLite.
            with django_assert_num_queries(2 if connections["default"].vendor == "postgresql" else 3):
                on_voucher_redeemed(Redemption, redemption=redemption)
        assert [event.type for event in events_of(platform_a)] == ["code.redeemed", "entitlement.granted"]

    def test_a_redemption_rolled_back_after_its_event_leaves_neither(
        self, platform_a, mapped, offer_on, make_code, events_learner
    ):
        code = make_code(offer_on(Product.ENROLLMENT, mapped))

        def fails_after_the_event(**kwargs: Any) -> None:
            assert PlatformEvent.objects.count() == 2  # written, in this transaction
            raise RuntimeError("the disk is full")

        voucher_redeemed_in_transaction.connect(fails_after_the_event, dispatch_uid="test-fails")
        try:
            with pytest.raises(RuntimeError):
                voucher_redeem(code=code, user=events_learner(platform_a), session=mapped.session)
        finally:
            voucher_redeemed_in_transaction.disconnect(dispatch_uid="test-fails")
        assert (Redemption.objects.count(), PlatformEvent.objects.count()) == (0, 0)
        assert Platform.objects.get(pk=platform_a.platform.pk).last_event_seq == 0

    def test_an_enclosing_transaction_rolled_back_takes_the_events_with_it(
        self, platform_a, mapped, offer_on, make_code, events_learner
    ):
        code, user = make_code(offer_on(Product.ENROLLMENT, mapped)), events_learner(platform_a)
        with transaction.atomic():
            voucher_redeem(code=code, user=user, session=mapped.session)
            transaction.set_rollback(True)
        assert PlatformEvent.objects.count() == 0

    def test_a_refused_redemption_writes_no_event_and_takes_no_number(
        self, platform_a, mapped, offer_on, make_code, events_learner
    ):
        code = make_code(offer_on(Product.ENROLLMENT, mapped))
        voucher_redeem(code=code, user=events_learner(platform_a, "u-1"), session=mapped.session)
        with pytest.raises(CodeExhausted):
            voucher_redeem(code=code, user=events_learner(platform_a, "u-2"), session=mapped.session)
        assert kinds(platform_a) == [(1, Type.CODE_REDEEMED), (2, Type.ENTITLEMENT_GRANTED)]
        assert Platform.objects.get(pk=platform_a.platform.pk).last_event_seq == 2


@pytest.mark.django_db
class TestReversalsAndRevocations:
    def test_a_reversal_revokes_the_entitlement_and_says_whether_the_use_came_back(
        self, platform_a, mapped, offer_on, make_code, events_learner
    ):
        user = events_learner(platform_a)
        code = make_code(offer_on(Product.ENROLLMENT, mapped))
        redemption = voucher_redeem(code=code, user=user, session=mapped.session)
        redemption_reverse(redemption=redemption, actor="user:1", give_back_use=False)
        revoked = events_of(platform_a)[-1]
        assert (revoked.seq, revoked.type) == (3, Type.ENTITLEMENT_REVOKED)
        redemption.refresh_from_db()
        assert revoked.data == {
            "learner": "u-1", "user": user.pk, "session": "s-1", "course": mapped.course.external_id,
            "product": "enrollment", "code": code, "redemption": redemption.pk, "effect": {"enrolled": False},
            "use_returned": False, "reversed_at": wire_time(redemption.reversed_at),
        }  # fmt: skip
        assert revoked.occurred_at == redemption.reversed_at

    def test_a_reversed_reactivation_ends_now_and_never_expires(
        self, platform_a, events_session, ended_session, reactivation_offer, make_code, events_learner
    ):
        events_session(platform_a, ended_session)
        user = events_learner(platform_a)
        redemption = voucher_redeem(code=make_code(reactivation_offer), user=user, session=ended_session)
        redemption_reverse(redemption=redemption, actor="user:1")
        revoked = events_of(platform_a)[-1]
        assert revoked.data["effect"] == {"reactivated_until": None, "enrolled": False}
        assert revoked.data["use_returned"] is True
        assert PlatformReactivation.objects.get().revoked_at == revoked.occurred_at
        assert reactivations_expire(now=revoked.occurred_at + timedelta(days=400)) == 0
        assert [event.type for event in events_of(platform_a)].count(Type.ENTITLEMENT_EXPIRED) == 0

    def test_revoking_a_batch_of_a_platforms_session_is_one_event(self, platform_a, mapped, offer_on, make_batch):
        batch = make_batch(offer_on(Product.ENROLLMENT, mapped), count=3, tag="spring")
        assert batch_revoke(batch=batch, actor="user:1") == 3
        assert batch_revoke(batch=batch, actor="user:1") == 0  # nothing changed, nothing told
        [revoked] = events_of(platform_a)
        batch.refresh_from_db()
        assert (revoked.seq, revoked.type) == (1, Type.BATCH_REVOKED)
        assert revoked.data == {
            "session": "s-1", "course": mapped.course.external_id, "product": "enrollment", "batch": batch.pk,
            "tag": "spring", "codes_revoked": 3, "revoked_at": wire_time(batch.revoked_at),
        }  # fmt: skip

    def test_revoking_a_batch_for_any_session_or_one_of_no_platform_tells_no_platform(
        self, platform_a, mapped, make_offer, make_batch, enrollment_offer
    ):
        batch_revoke(batch=make_batch(make_offer(Product.ENROLLMENT, None)), actor="user:1")
        batch_revoke(batch=make_batch(enrollment_offer), actor="user:1")
        assert PlatformEvent.objects.count() == 0


@pytest.mark.django_db
class TestTwoPlatforms:
    def test_each_platform_numbers_its_own_events_and_sees_only_them(
        self, platform_a, platform_b, events_session, make_offer, make_code, events_learner
    ):
        for credentials, external_id in ((platform_a, "a-1"), (platform_b, "b-1"), (platform_a, "a-2")):
            session = events_session(credentials, external_id=external_id).session
            code = make_code(make_offer(Product.ENROLLMENT, session))
            voucher_redeem(code=code, user=events_learner(credentials, f"u-{external_id}"), session=session)
        assert [(event.seq, event.data["session"]) for event in events_of(platform_a)] == [
            (1, "a-1"), (2, "a-1"), (3, "a-2"), (4, "a-2"),
        ]  # fmt: skip
        assert [(event.seq, event.data["session"]) for event in events_of(platform_b)] == [(1, "b-1"), (2, "b-1")]


@pytest.mark.django_db
class TestAReactivationsEnd:
    def test_its_end_is_told_once_when_it_has_passed(self, platform_a, reactivated):
        until = reactivated(1)
        assert reactivations_expire(now=until - timedelta(seconds=1)) == 0
        assert reactivations_expire(now=until) == 1
        assert reactivations_expire(now=until + timedelta(days=1)) == 0
        expired = events_of(platform_a)[-1]
        kept = PlatformReactivation.objects.get()
        assert (expired.seq, expired.type, expired.occurred_at) == (3, Type.ENTITLEMENT_EXPIRED, until)
        assert expired.data["effect"] == {"reactivated_until": None}
        assert expired.data["expired_at"] == wire_time(until)
        assert (expired.data["learner"], expired.data["redemption"]) == ("r-0", kept.redemption_id)
        assert kept.expired_event_at == until


@pytest.mark.django_db(transaction=True)
def test_the_task_worker_tells_the_ends_that_have_passed_at_its_start(platform_a, reactivated):
    reactivated(1)
    PlatformReactivation.objects.update(until=timezone.now() - timedelta(seconds=1))
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    assert [event.type for event in events_of(platform_a)][-1] == Type.ENTITLEMENT_EXPIRED


def seqs_visible(platform_id: int) -> list[int]:
    return list(PlatformEvent.objects.filter(platform_id=platform_id).order_by("seq").values_list("seq", flat=True))


class FeedWatcher:
    """Reads the platform's numbers over and over, on its own connection, while the writers race:
    every read must be 1..n, never a later number before an earlier one has committed."""

    def __init__(self, platform_id: int) -> None:
        self.platform_id, self.stop, self.holes, self.reads = platform_id, threading.Event(), [], 0
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()

    def _watch(self) -> None:
        try:
            while not self.stop.is_set():
                seen = seqs_visible(self.platform_id)
                self.reads += 1
                if seen != list(range(1, len(seen) + 1)):
                    self.holes.append(seen)
        finally:
            connections.close_all()

    def done(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


REDEEMERS = 16


@pytest.mark.django_db(transaction=True)
class TestConcurrently:
    def test_concurrent_redemptions_are_numbered_without_gaps_in_commit_order(
        self, platform_a, mapped, offer_on, make_batch, events_learner
    ):
        batch = make_batch(offer_on(Product.ENROLLMENT, mapped), count=REDEEMERS)
        codes = list(batch.codes.values_list("code", flat=True))
        users = [events_learner(platform_a, f"u-{number}") for number in range(REDEEMERS)]
        watcher = FeedWatcher(platform_a.platform.pk)
        try:
            outcomes = race([
                lambda user=user, code=code: voucher_redeem(code=code, user=user, session=mapped.session)
                for user, code in zip(users, codes, strict=True)
            ], success="redeemed", connect_first=True)  # fmt: skip
        finally:
            watcher.done()
        assert outcomes == Counter({"redeemed": REDEEMERS})
        assert (watcher.holes, watcher.reads > 0) == ([], True)
        events = events_of(platform_a)
        assert [event.seq for event in events] == list(range(1, 2 * REDEEMERS + 1))
        pairs = [(first.type, second.type, first.data["redemption"] == second.data["redemption"])
                 for first, second in zip(events[::2], events[1::2], strict=True)]  # fmt: skip
        assert set(pairs) == {(Type.CODE_REDEEMED, Type.ENTITLEMENT_GRANTED, True)}
        assert Platform.objects.get(pk=platform_a.platform.pk).last_event_seq == 2 * REDEEMERS

    def test_two_workers_tell_each_reactivations_end_exactly_once(self, platform_a, reactivated):
        until = reactivated(6)
        outcomes = race([lambda: reactivations_expire(now=until)] * 2, connect_first=True)
        assert sum(int(told) * times for told, times in outcomes.items()) == 6, outcomes
        expired = [event for event in events_of(platform_a) if event.type == Type.ENTITLEMENT_EXPIRED]
        assert sorted(event.data["redemption"] for event in expired) == sorted(
            PlatformReactivation.objects.values_list("redemption_id", flat=True)
        )
        assert [event.seq for event in events_of(platform_a)] == list(range(1, 6 * 2 + 6 + 1))


@pytest.mark.postgresql
@pytest.mark.django_db
class TestOneStatementOnPostgresql:
    """The statement that numbers and writes a platform's events at once holds to what the UPDATE
    and the ORM's insert write (SQLite's way, which runs on PostgreSQL as well)."""

    def test_it_writes_the_same_rows_as_the_update_and_the_orms_insert(self, platform_a, platform_b):
        at = timezone.now()
        events = [
            (Type.CODE_REDEEMED, {"learner": "u-1", "code": "AB-CD", "n": 7, "none": None, "text": 'é "\\ \u2028'}),
            (Type.ENTITLEMENT_GRANTED, {"effect": {"enrolled": True, "until": None}, "list": [1, 2.5, "x"]}),
        ]
        for _ in range(2):  # the second time numbered on from the first
            assert _numbered_and_written(platform_a.platform.pk, events, at) == (
                _numbered_then_written(platform_b.platform.pk, events, at)
            )

        def rows(credentials: Any) -> list[tuple[Any, ...]]:
            return [(e.seq, e.type, e.occurred_at, e.data) for e in events_of(credentials)]

        assert rows(platform_a) == rows(platform_b) == [(seq, kind, at, data) for seq, (kind, data) in
                                                        enumerate(events * 2, start=1)]  # fmt: skip
        assert len({event.id for event in events_of(platform_a)}) == 4

    def test_a_platform_that_is_not_there_writes_nothing(self, platform_a):
        assert _numbered_and_written(platform_a.platform.pk + 1000, [(Type.CODE_REDEEMED, {})], timezone.now()) is None
        assert PlatformEvent.objects.count() == 0


@pytest.mark.django_db
class TestTheOwnerLookup:
    """PLATFORM_OF_SESSION, the one hand-written read a redemption on a platform's session adds,
    holds to the ORM's answer: the session's mapping with its course, and the learner if any."""

    @staticmethod
    def orm_owner(session_id: int, user_id: int) -> Owner | None:
        mapping = PlatformSession.objects.select_related("course").filter(session_id=session_id).first()
        if mapping is None:
            return None
        learner = PlatformLearner.objects.filter(platform_id=mapping.platform_id, user_id=user_id).first()
        return Owner(
            platform_id=mapping.platform_id, session_pk=mapping.pk, session=mapping.external_id,
            course=mapping.course.external_id, learner=learner.external_id if learner else None,
        )  # fmt: skip

    def test_it_agrees_with_the_orm_for_every_kind_of_user_and_session(
        self, platform_a, platform_b, mapped, events_learner, learner, running_session
    ):
        users = [events_learner(platform_a, "a-1"), events_learner(platform_b, "b-1"), learner]
        cases = [(session.pk, user.pk) for session in (mapped.session, running_session) for user in users]
        answers = [(_owner(session_id=s, user_id=u), self.orm_owner(s, u)) for s, u in cases]
        assert all(raw == orm for raw, orm in answers)
        assert [raw.learner if raw else "no platform" for raw, _ in answers] == [
            "a-1", None, None, "no platform", "no platform", "no platform",
        ]  # fmt: skip


@pytest.mark.django_db
class TestAnAssessmentOfAPlatformsCourse:
    """Platforms own courses, not assessments: the platform whose course an assessment belongs to
    hears of its codes, and no other platform does."""

    @pytest.fixture
    def exam(self, platform_a, now) -> Assessment:
        course = Course.objects.create(slug="moodle-python", title="Python on Moodle")
        PlatformCourse.objects.create(platform=platform_a.platform, external_id="c-9", course=course)
        return Assessment.objects.create(
            course=course, slug="moodle-exam", title="Final exam", attempts=3,
            opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=30),
        )  # fmt: skip

    @pytest.fixture
    def exam_offer(self, exam) -> Offer:
        return offer_create(name="exam", product=Product.ASSESSMENT, assessment=exam, attempts=2)

    def test_its_redemption_is_a_code_redeemed_and_an_entitlement_granted_with_the_attempts(
        self, platform_a, platform_b, exam, exam_offer, make_code, events_learner
    ):
        user = events_learner(platform_a, "u-7")
        redemption = voucher_redeem(code=make_code(exam_offer), user=user, assessment=exam)
        redeemed, granted = events_of(platform_a)
        about = {
            "learner": "u-7", "user": user.pk, "session": None, "course": "c-9", "assessment": "moodle-exam",
            "product": "assessment", "redemption": redemption.pk,
        }  # fmt: skip
        assert (redeemed.type, granted.type) == (Type.CODE_REDEEMED, Type.ENTITLEMENT_GRANTED)
        assert {key: redeemed.data[key] for key in about} == about
        assert {key: granted.data[key] for key in about} == about
        assert granted.data["effect"] == {"attempts": 2, "attempts_added": 2}
        assert events_of(platform_b) == []

    def test_its_reversal_tells_the_attempts_left_and_a_revoked_batch_is_told_too(
        self, platform_a, platform_b, exam, exam_offer, make_code, learner
    ):
        redemption = voucher_redeem(code=make_code(exam_offer), user=learner, assessment=exam)
        redemption_reverse(redemption=redemption, actor="staff")
        batch_revoke(batch=Batch.objects.get(offer=exam_offer), actor="user:1")
        revoked, batch_revoked = events_of(platform_a)[2:]
        assert revoked.type == Type.ENTITLEMENT_REVOKED
        assert revoked.data["learner"] is None  # not platform A's learner: told by user id only
        assert revoked.data["effect"] == {"attempts": 0, "active": False}
        assert batch_revoked.type == Type.BATCH_REVOKED
        assert {key: batch_revoked.data[key] for key in ("session", "course", "assessment", "codes_revoked")} == {
            "session": None, "course": "c-9", "assessment": "moodle-exam", "codes_revoked": 1,
        }  # fmt: skip
        assert events_of(platform_b) == []
