"""voucher_redeem and redemption_reverse: every product rule and every refusal code."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Exists, F, OuterRef, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tessera.catalog.models import AssessmentEntitlement, CourseSession, Enrollment, Exam
from tessera.core.errors import DomainError
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeNotFound
from tessera.vouchers.models import AuditEvent, Batch, Code, Product, Redemption
from tessera.vouchers.selectors.codes import CodeKey
from tessera.vouchers.services import (
    BatchSpec,
    CodeList,
    batch_revoke,
    codes_import,
    redeem,
    redemption_reverse,
    voucher_check,
    voucher_redeem,
)
from tests.rows import columns_of, rolled_back


def _nothing_redeemed() -> bool:
    return not Redemption.objects.exists() and not (Code.objects.aggregate(total=Sum("uses"))["total"] or 0)


def _refusal(code: str, user, session, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        voucher_redeem(code=code, user=user, session=session, **kwargs)
    return caught.value.code


class TestEnrollmentCodes:
    def test_a_code_enrolls_the_learner_at_once(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        redemption = voucher_redeem(code=code, user=learner, session=running_session, client_ip="203.0.113.9")
        enrollment = Enrollment.objects.get(user=learner, session=running_session)
        assert enrollment.active
        assert redemption.session == running_session
        assert redemption.client_ip == "203.0.113.9"
        assert Code.objects.get().uses == 1

    def test_the_code_is_read_however_it_is_typed(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        voucher_redeem(code=sloppy, user=learner, session=running_session)
        assert Enrollment.objects.filter(user=learner, active=True).exists()

    def test_an_enrolled_learner_is_not_eligible(self, enrollment_offer, make_code, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session)
        code = make_code(enrollment_offer)
        assert _refusal(code, learner, running_session) == "not_eligible"
        assert _nothing_redeemed()

    def test_a_full_session_is_not_eligible(self, enrollment_offer, make_code, learner, other_learner, running_session):
        running_session.capacity = 1
        running_session.save()
        Enrollment.objects.create(user=other_learner, session=running_session)
        code = make_code(enrollment_offer)
        assert _refusal(code, learner, running_session) == "not_eligible"

    @pytest.mark.parametrize("change", ["archived", "ended", "window_closed", "window_not_open"])
    def test_a_closed_session_is_not_eligible(self, change, enrollment_offer, make_code, learner, running_session, now):
        if change == "archived":
            running_session.state = CourseSession.State.ARCHIVED
        elif change == "ended":
            running_session.ends_at = now - timedelta(minutes=1)
            running_session.starts_at = now - timedelta(weeks=2)
        elif change == "window_closed":
            running_session.enrollment_closes_at = now - timedelta(minutes=1)
        else:
            running_session.enrollment_opens_at = now + timedelta(days=1)
        running_session.save()
        code = make_code(enrollment_offer)
        assert _refusal(code, learner, running_session) == "not_eligible"
        assert not Enrollment.objects.exists()

    def test_a_withdrawn_enrollment_is_restored(self, enrollment_offer, make_code, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session, active=False)
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        assert Enrollment.objects.get(user=learner).active


class TestProctoringCodes:
    def test_an_enrolled_learner_books_proctoring(self, proctoring_offer, make_code, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session)
        voucher_redeem(code=make_code(proctoring_offer), user=learner, session=running_session)
        assert Enrollment.objects.get(user=learner).proctored

    def test_a_learner_not_enrolled_is_not_eligible(self, proctoring_offer, make_code, learner, running_session):
        assert _refusal(make_code(proctoring_offer), learner, running_session) == "not_eligible"
        assert _nothing_redeemed()

    def test_booking_twice_is_not_eligible(self, proctoring_offer, make_code, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session, proctored=True)
        assert _refusal(make_code(proctoring_offer), learner, running_session) == "not_eligible"

    def test_after_the_first_proctored_deadline_it_is_too_late(
        self, proctoring_offer, make_code, learner, running_session, now
    ):
        Enrollment.objects.create(user=learner, session=running_session)
        Exam.objects.filter(session=running_session, title="Midterm").update(
            submission_deadline=now - timedelta(hours=1)
        )
        with pytest.raises(DomainError) as caught:
            voucher_redeem(code=make_code(proctoring_offer), user=learner, session=running_session)
        assert caught.value.code == "not_eligible"
        assert "deadline" in caught.value.message
        assert not Enrollment.objects.get(user=learner).proctored

    def test_a_session_without_certificate_does_not_offer_proctoring(
        self, make_offer, make_code, learner, course, running_session, now
    ):
        offer = make_offer(Product.PROCTORING, None)
        plain = CourseSession.objects.create(
            course=course, slug="plain", starts_at=now, ends_at=now + timedelta(weeks=1)
        )
        Enrollment.objects.create(user=learner, session=plain)
        assert _refusal(make_code(offer), learner, plain) == "product_unavailable"


class TestReactivationCodes:
    def test_reactivation_enrolls_and_opens_graded_exams_for_the_period(
        self, reactivation_offer, make_code, learner, ended_session
    ):
        voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        enrollment = Enrollment.objects.get(user=learner, session=ended_session)
        assert enrollment.active
        expected = enrollment.created_at + timedelta(weeks=8)
        assert abs(enrollment.reactivated_until - expected) < timedelta(seconds=5)

    def test_reactivation_restores_an_existing_enrollment(self, reactivation_offer, make_code, learner, ended_session):
        Enrollment.objects.create(user=learner, session=ended_session, active=False)
        voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        assert Enrollment.objects.get(user=learner).active

    def test_a_reactivated_learner_cannot_reactivate_again_until_it_ends(
        self, reactivation_offer, make_code, learner, ended_session, now
    ):
        Enrollment.objects.create(user=learner, session=ended_session, reactivated_until=now + timedelta(days=3))
        assert _refusal(make_code(reactivation_offer), learner, ended_session) == "not_eligible"

    def test_after_the_period_ends_a_learner_may_reactivate_again(
        self, reactivation_offer, make_code, learner, ended_session, now
    ):
        Enrollment.objects.create(user=learner, session=ended_session, reactivated_until=now - timedelta(days=1))
        voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        assert Enrollment.objects.get(user=learner).reactivated_until > now + timedelta(weeks=7)

    def test_a_session_that_has_not_ended_cannot_be_reactivated(self, make_offer, make_code, learner, running_session):
        running_session.reactivation_enabled = True
        running_session.save()
        offer = make_offer(Product.REACTIVATION, running_session)
        assert _refusal(make_code(offer), learner, running_session) == "not_eligible"

    def test_a_session_in_preparation_cannot_be_reactivated(
        self, reactivation_offer, make_code, learner, ended_session
    ):
        code = make_code(reactivation_offer)
        ended_session.state = CourseSession.State.PREPARATION
        ended_session.save()
        assert _refusal(code, learner, ended_session) == "not_eligible"

    def test_the_period_follows_the_session(self, reactivation_offer, make_code, learner, ended_session, now):
        ended_session.reactivation_weeks = 2
        ended_session.save()
        voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        until = Enrollment.objects.get(user=learner).reactivated_until
        assert now + timedelta(weeks=2) <= until < now + timedelta(weeks=2, minutes=1)


class TestRefusals:
    def test_an_anonymous_user_is_refused_and_nothing_changes(self, enrollment_offer, make_code, running_session):
        from django.contrib.auth.models import AnonymousUser

        code = make_code(enrollment_offer)
        with pytest.raises(DomainError) as caught:
            voucher_redeem(code=code, user=AnonymousUser(), session=running_session)
        assert (caught.value.code, caught.value.field) == ("invalid_input", "user")
        assert _nothing_redeemed()

    def test_an_unknown_code_is_not_found(self, running_session, learner):
        assert _refusal(codebook.generate(1)[0], learner, running_session) == "not_found"

    def test_a_mistyped_code_is_looked_up_once_as_an_imported_code_then_refused_as_mistyped(
        self, enrollment_offer, make_code, learner, running_session
    ):
        code = make_code(enrollment_offer)
        first = "1" if code[0] != "1" else "2"
        with CaptureQueriesContext(connection) as queries:
            assert _refusal(first + code[1:], learner, running_session, limited=False) == "mistyped"
        assert _code_lookups(queries) == 1

    def test_text_that_can_be_no_code_is_caught_before_the_database(
        self, enrollment_offer, make_code, learner, running_session, django_assert_num_queries
    ):
        code = make_code(enrollment_offer)
        # Only the refusal's audit row: no lookup.
        with django_assert_num_queries(1):
            assert _refusal("#" + code[1:], learner, running_session, limited=False) == "mistyped"

    @pytest.mark.parametrize("garbage", ["", "short", "ÜBER-CODE-####", "x" * 500])
    def test_malformed_input_is_mistyped(self, garbage, learner, running_session):
        assert _refusal(garbage, learner, running_session) == "mistyped"

    def test_a_code_for_another_product_is_wrong_product(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer)
        assert _refusal(code, learner, running_session, product=Product.PROCTORING) == "wrong_product"
        assert _nothing_redeemed()

    def test_a_code_for_another_session_is_wrong_product(self, reactivation_offer, make_code, learner, running_session):
        assert _refusal(make_code(reactivation_offer), learner, running_session) == "wrong_product"

    def test_a_product_switched_off_is_unavailable(
        self, enrollment_offer, make_code, learner, running_session, settings
    ):
        code = make_code(enrollment_offer)
        settings.TESSERA_PRODUCTS_ENABLED = ["proctoring", "reactivation"]
        assert _refusal(code, learner, running_session) == "product_unavailable"

    def test_an_offer_without_auto_subscribe_is_unavailable(
        self, enrollment_offer, make_code, learner, running_session
    ):
        code = make_code(enrollment_offer)
        enrollment_offer.auto_subscribe = False
        enrollment_offer.save()
        assert _refusal(code, learner, running_session) == "product_unavailable"

    def test_an_expired_code_is_refused(self, enrollment_offer, make_code, learner, running_session, now):
        code = make_code(enrollment_offer, expires_at=now + timedelta(hours=1))
        Batch.objects.update(expires_at=now - timedelta(seconds=1))
        assert _refusal(code, learner, running_session) == "expired"

    def test_a_used_up_code_is_exhausted(self, enrollment_offer, make_code, learner, other_learner, running_session):
        code = make_code(enrollment_offer)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        assert _refusal(code, learner, running_session) == "exhausted"
        assert not Enrollment.objects.filter(user=learner).exists()

    def test_a_user_redeems_a_code_once(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer, uses_per_code=3)
        voucher_redeem(code=code, user=learner, session=running_session)
        assert _refusal(code, learner, running_session) == "already_redeemed"
        assert Code.objects.get().uses == 1

    def test_a_code_restricted_to_someone_else_is_wrong_user(
        self, enrollment_offer, make_code, learner, other_learner, running_session
    ):
        code = make_code(enrollment_offer, restricted_to=other_learner)
        assert _refusal(code, learner, running_session) == "wrong_user"
        voucher_redeem(code=code, user=other_learner, session=running_session)

    def test_a_revoked_code_is_refused(self, enrollment_offer, make_batch, learner, running_session):
        batch = make_batch(enrollment_offer)
        batch_revoke(batch=batch, actor="test")
        assert _refusal(batch.codes.get().code, learner, running_session) == "revoked"

    def test_vouchers_off_refuses_everything(self, enrollment_offer, make_code, learner, running_session, settings):
        code = make_code(enrollment_offer)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert _refusal(code, learner, running_session) == "vouchers_disabled"
        assert _nothing_redeemed()

    def test_a_refusal_is_audited_with_its_reason(self, running_session, learner):
        unknown = codebook.generate(1)[0]
        _refusal(unknown, learner, running_session, client_ip="198.51.100.7")
        event = AuditEvent.objects.get(action=AuditEvent.Action.REFUSED)
        assert event.detail["reason"] == "not_found"
        assert event.actor == f"user:{learner.pk}"
        assert "client_ip" not in event.detail  # the audit log holds no addresses (README, "Personal data")


def _code_lookups(queries: CaptureQueriesContext) -> int:
    return sum("FROM vouchers_code c JOIN" in query["sql"] for query in queries.captured_queries)


def _import(offer, *codes: str) -> Batch:
    spec = BatchSpec(count=len(codes), country="DE")
    return codes_import(offer=offer, codes=CodeList.numbered(list(codes), source="test"), spec=spec)


class TestImportedCodes:
    def test_an_imported_code_is_redeemed_by_its_text_in_any_case_in_one_lookup(
        self, enrollment_offer, learner, running_session
    ):
        _import(enrollment_offer, "BOOK-SALE-O1L")
        with CaptureQueriesContext(connection) as queries:
            redemption = voucher_redeem(code="book sale o1l", user=learner, session=running_session, limited=False)
        assert _code_lookups(queries) == 1
        assert redemption.code_id == "BOOKSALEO1L"
        assert Enrollment.objects.filter(user=learner, active=True).exists()

    def test_a_generated_code_is_still_one_lookup(self, enrollment_offer, make_code, learner, running_session):
        _import(enrollment_offer, "BOOK-SALE-01")
        code = make_code(enrollment_offer)
        with CaptureQueriesContext(connection) as queries:
            voucher_redeem(code=code, user=learner, session=running_session, limited=False)
        assert _code_lookups(queries) == 1

    def test_look_alikes_are_not_merged_in_an_imported_code(self, enrollment_offer, learner, running_session):
        _import(enrollment_offer, "BOOK-SALE-01")
        assert _refusal("BOOK-SALE-O1", learner, running_session) == "mistyped"
        assert _nothing_redeemed()

    def test_a_refused_imported_code_is_logged_as_stored(self, enrollment_offer, learner, other_learner,
                                                         running_session):  # fmt: skip
        _import(enrollment_offer, "book-sale-01")
        voucher_redeem(code="book-sale-01", user=other_learner, session=running_session)
        assert _refusal("Book Sale 01", learner, running_session) == "exhausted"
        event = AuditEvent.objects.get(action=AuditEvent.Action.REFUSED)
        assert event.code == "BOOKSALE01"

    def test_an_imported_code_is_checked_like_any_code(self, enrollment_offer, learner, running_session):
        _import(enrollment_offer, "BOOK-SALE-01")
        preview = voucher_check(code="book-sale-01", user=learner, session=running_session)
        assert (preview.code.code, preview.uses_left) == ("BOOKSALE01", 1)


class TestMultiUseCodes:
    def test_a_code_is_shared_until_its_uses_run_out(self, enrollment_offer, make_code, make_learners, running_session):
        code = make_code(enrollment_offer, uses_per_code=2)
        first, second, third = make_learners(3)
        voucher_redeem(code=code, user=first, session=running_session)
        voucher_redeem(code=code, user=second, session=running_session)
        assert _refusal(code, third, running_session) == "exhausted"
        assert Code.objects.get().uses == 2
        assert Enrollment.objects.count() == 2

    def test_a_failing_activation_leaves_the_code_unredeemed(
        self, enrollment_offer, make_code, learner, running_session, monkeypatch
    ):
        from tessera.vouchers.products import PRODUCT_RULES

        code = make_code(enrollment_offer)

        def explode(**kwargs):
            raise RuntimeError("the enrollment system is down")

        monkeypatch.setattr(type(PRODUCT_RULES["enrollment"]), "activate", lambda self, **kw: explode(**kw))
        with pytest.raises(RuntimeError):
            voucher_redeem(code=code, user=learner, session=running_session)
        assert _nothing_redeemed()
        assert not Enrollment.objects.exists()


class TestReversal:
    def test_reversing_an_enrollment_ends_it_and_gives_the_use_back(
        self, enrollment_offer, make_code, learner, running_session
    ):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="staff")
        assert not Enrollment.objects.get(user=learner).active
        assert Code.objects.get().uses == 0
        assert Redemption.objects.get().reversed_at is not None

    def test_a_keep_use_batch_keeps_the_use_spent(self, enrollment_offer, make_code, learner, running_session):
        code = make_code(enrollment_offer, refund_policy="keep_use")
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="staff")
        assert Code.objects.get().uses == 1

    def test_reversing_proctoring_cancels_the_booking(self, proctoring_offer, make_code, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session)
        redemption = voucher_redeem(code=make_code(proctoring_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="staff")
        enrollment = Enrollment.objects.get(user=learner)
        assert enrollment.active
        assert not enrollment.proctored

    def test_reversing_a_reactivation_ends_it_now(self, reactivation_offer, make_code, learner, ended_session, now):
        redemption = voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        redemption_reverse(redemption=redemption, actor="staff")
        assert Enrollment.objects.get(user=learner).reactivated_until < now + timedelta(minutes=1)

    def test_reversing_a_reactivation_ends_the_enrollment_it_created(
        self, reactivation_offer, make_code, learner, ended_session
    ):
        redemption = voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        redemption_reverse(redemption=redemption, actor="staff")
        assert not Enrollment.objects.get(user=learner).active

    def test_reversing_a_reactivation_keeps_an_enrollment_that_was_there_before(
        self, reactivation_offer, make_code, learner, ended_session
    ):
        Enrollment.objects.create(user=learner, session=ended_session)
        redemption = voucher_redeem(code=make_code(reactivation_offer), user=learner, session=ended_session)
        redemption_reverse(redemption=redemption, actor="staff")
        assert Enrollment.objects.get(user=learner).active

    def test_a_redemption_is_reversed_once(self, enrollment_offer, make_code, learner, running_session):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="staff")
        with pytest.raises(DomainError) as caught:
            redemption_reverse(redemption=redemption, actor="staff")
        assert caught.value.code == "already_reversed"
        assert Code.objects.get().uses == 0

    def test_after_a_refund_the_learner_may_redeem_the_code_again(
        self, enrollment_offer, make_code, learner, running_session
    ):
        code = make_code(enrollment_offer)
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="staff")
        voucher_redeem(code=code, user=learner, session=running_session)
        assert Enrollment.objects.get(user=learner).active
        assert Redemption.objects.count() == 2


class TestHandWrittenStatements:
    """The redemption's read and its count of a use are written by hand (docs/architecture.md,
    "Where Tessera writes SQL by hand"); each must do what the ORM does with the same rows."""

    def found_by_orm(self, normalized: str, user, session) -> tuple:
        held = Redemption.objects.filter(code=OuterRef("pk"), user_id=user.pk, reversed_at__isnull=True)
        code = Code.objects.select_related("batch__offer").annotate(held=Exists(held)).get(pk=normalized)
        enrollment = Enrollment.objects.filter(user=user, session=session).first()
        return columns_of(code), columns_of(code.batch), columns_of(code.batch.offer), code.held, columns_of(enrollment)

    def found_by_hand(self, normalized: str, user, session) -> tuple:
        attempt = redeem.Attempt(user=user, session=session, product=None, client_ip=None, now=timezone.now())
        found = redeem._code_for_redemption(CodeKey(key=normalized, missing=CodeNotFound()), attempt)
        code = found.code
        return (columns_of(code), columns_of(code.batch), columns_of(code.batch.offer), found.held,
                columns_of(found.holding))  # fmt: skip

    def test_the_redemption_read_finds_what_the_orm_finds(
        self, enrollment_offer, make_code, learner, other_learner, running_session
    ):
        code = codebook.normalize(make_code(enrollment_offer, uses_per_code=3, expires_at=running_session.ends_at))
        fresh = codebook.normalize(make_code(enrollment_offer))
        voucher_redeem(code=code, user=learner, session=running_session)  # learner holds it, and is enrolled
        for normalized, user in [(code, learner), (code, other_learner), (fresh, learner), (fresh, other_learner)]:
            assert self.found_by_hand(normalized, user, running_session) == self.found_by_orm(
                normalized, user, running_session
            )

    def test_counting_a_use_changes_what_the_orm_update_changes(self, enrollment_offer, make_code, learner):
        unused, used, revoked = (codebook.normalize(make_code(enrollment_offer, uses_per_code=2)) for _ in range(3))
        Code.objects.filter(pk=used).update(uses=2)
        Code.objects.filter(pk=revoked).update(revoked_at=timezone.now())

        def by_hand(pk: str) -> tuple:
            with connection.cursor() as cursor:
                cursor.execute(redeem.COUNT_USE, [pk])
                return cursor.rowcount, columns_of(Code.objects.get(pk=pk))

        def by_orm(pk: str) -> tuple:
            usable = Code.objects.filter(pk=pk, uses__lt=F("max_uses"), revoked_at__isnull=True)
            return usable.update(uses=F("uses") + 1), columns_of(Code.objects.get(pk=pk))

        for pk, counted in [(unused, 1), (used, 0), (revoked, 0)]:
            assert rolled_back(lambda pk=pk: by_hand(pk)) == rolled_back(lambda pk=pk: by_orm(pk))
            assert rolled_back(lambda pk=pk: by_hand(pk))[0] == counted


def _entitlement(user) -> AssessmentEntitlement:
    return AssessmentEntitlement.objects.get(user=user)


def _assessment_refusal(code: str, user, assessment, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        voucher_redeem(code=code, user=user, assessment=assessment, **kwargs)
    return caught.value.code


class TestAssessmentCodes:
    def test_a_code_grants_the_assessment_with_its_attempts_and_no_session(
        self, assessment_offer, make_code, learner, assessment
    ):
        redemption = voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        assert (redemption.session, redemption.assessment, redemption.attempts) == (None, assessment, 3)
        entitlement = _entitlement(learner)
        assert (entitlement.assessment, entitlement.attempts, entitlement.active) == (assessment, 3, True)
        assert not Enrollment.objects.exists()
        assert Code.objects.get().uses == 1

    def test_the_redemption_is_audited_naming_the_assessment(self, assessment_offer, make_code, learner, assessment):
        voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        event = AuditEvent.objects.get(action=AuditEvent.Action.REDEEMED)
        assert event.detail == {"assessment": "python-exam"}

    def test_an_offer_may_give_fewer_attempts_than_the_assessment_allows(
        self, make_offer, make_code, learner, assessment
    ):
        offer = make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=2)
        voucher_redeem(code=make_code(offer), user=learner, assessment=assessment)
        assert _entitlement(learner).attempts == 2

    def test_a_holder_is_not_eligible_for_a_plain_code(self, assessment_offer, make_code, learner, assessment):
        voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        assert _assessment_refusal(make_code(assessment_offer), learner, assessment) == "not_eligible"
        assert _entitlement(learner).attempts == 3
        assert Redemption.objects.count() == 1

    def test_a_retake_code_adds_its_attempts_to_a_holder(self, make_offer, retake_offer, make_code, learner,
                                                         assessment):  # fmt: skip
        first = make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=1)
        voucher_redeem(code=make_code(first), user=learner, assessment=assessment)
        voucher_redeem(code=make_code(retake_offer), user=learner, assessment=assessment)
        assert _entitlement(learner).attempts == 2

    def test_a_retake_code_grants_the_assessment_to_a_newcomer(self, retake_offer, make_code, learner, assessment):
        voucher_redeem(code=make_code(retake_offer), user=learner, assessment=assessment)
        assert _entitlement(learner).attempts == 1

    def test_no_code_adds_attempts_past_the_allowance(self, assessment_offer, retake_offer, make_code, learner,
                                                      assessment):  # fmt: skip
        voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)  # all three
        with pytest.raises(DomainError) as caught:
            voucher_redeem(code=make_code(retake_offer), user=learner, assessment=assessment)
        assert (caught.value.code, caught.value.message) == (
            "not_eligible",
            "You hold 3 of the 3 attempts this assessment allows.",
        )
        assert _entitlement(learner).attempts == 3

    @pytest.mark.parametrize(
        ("window", "reason"),
        [({"opens_at": timedelta(days=1)}, "opens at"),
         ({"closes_at": -timedelta(minutes=1), "opens_at": -timedelta(days=2)}, "has closed"),
         ({"active": False}, "not offered")],
    )  # fmt: skip
    def test_a_closed_assessment_is_unavailable(self, window, reason, assessment_offer, make_code, learner,
                                                assessment, now):  # fmt: skip
        for field, value in window.items():
            setattr(assessment, field, now + value if isinstance(value, timedelta) else value)
        assessment.save()
        with pytest.raises(DomainError) as caught:
            voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        assert caught.value.code == "product_unavailable"
        assert reason in caught.value.message
        assert not AssessmentEntitlement.objects.exists()
        assert _nothing_redeemed()

    def test_a_code_for_another_assessment_is_wrong_product(
        self, assessment_offer, make_code, learner, lone_assessment
    ):
        assert _assessment_refusal(make_code(assessment_offer), learner, lone_assessment) == "wrong_product"

    def test_a_session_code_is_wrong_product_for_an_assessment(self, enrollment_offer, make_code, learner, assessment):
        assert _assessment_refusal(make_code(enrollment_offer), learner, assessment) == "wrong_product"
        assert not Enrollment.objects.exists()

    def test_an_assessment_code_is_wrong_product_in_a_session(
        self, assessment_offer, make_code, learner, running_session
    ):
        assert _refusal(make_code(assessment_offer), learner, running_session) == "wrong_product"
        assert not AssessmentEntitlement.objects.exists()

    def test_asking_for_another_product_is_wrong_product(self, assessment_offer, make_code, learner, assessment):
        code = make_code(assessment_offer)
        assert _assessment_refusal(code, learner, assessment, product="enrollment") == "wrong_product"

    def test_switched_off_assessments_are_unavailable(self, assessment_offer, make_code, learner, assessment,
                                                      settings):  # fmt: skip
        code = make_code(assessment_offer)
        settings.TESSERA_PRODUCTS_ENABLED = ["enrollment"]
        assert _assessment_refusal(code, learner, assessment) == "product_unavailable"

    @pytest.mark.parametrize("places", [{}, {"both": True}])
    def test_a_redemption_names_a_session_or_an_assessment_never_both_nor_neither(
        self, places, assessment_offer, make_code, learner, assessment, running_session
    ):
        where = {"session": running_session, "assessment": assessment} if places else {}
        with pytest.raises(DomainError) as caught:
            voucher_redeem(code=make_code(assessment_offer), user=learner, **where)
        assert (caught.value.code, caught.value.field) == ("invalid_input", "session")
        assert _nothing_redeemed()

    def test_a_refusal_is_audited_naming_the_assessment(self, learner, assessment):
        assert _assessment_refusal("NOPE-NOPE", learner, assessment) in {"not_found", "mistyped"}
        assert AuditEvent.objects.get(action=AuditEvent.Action.REFUSED).detail["assessment"] == "python-exam"

    def test_a_code_is_checked_for_an_assessment_without_redeeming(
        self, assessment_offer, make_code, learner, assessment
    ):
        preview = voucher_check(code=make_code(assessment_offer), user=learner, assessment=assessment)
        assert (preview.product, preview.assessment, preview.session, preview.uses_left) == (
            "assessment",
            assessment,
            None,
            1,
        )
        assert not AssessmentEntitlement.objects.exists()

    def test_a_check_refuses_as_the_redemption_would(self, assessment_offer, make_code, learner, assessment):
        voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        with pytest.raises(DomainError) as caught:
            voucher_check(code=make_code(assessment_offer), user=learner, assessment=assessment)
        assert caught.value.code == "not_eligible"

    def test_an_assessment_redemption_takes_as_many_queries_as_an_enrollment(
        self, assessment_offer, enrollment_offer, make_code, learner, assessment, running_session
    ):
        assessment_code, enrollment_code = make_code(assessment_offer), make_code(enrollment_offer)
        with CaptureQueriesContext(connection) as by_session:
            voucher_redeem(code=enrollment_code, user=learner, session=running_session, limited=False)
        with CaptureQueriesContext(connection) as by_assessment:
            voucher_redeem(code=assessment_code, user=learner, assessment=assessment, limited=False)
        assert _code_lookups(by_assessment) == 1
        # One more, of the platform events' receiver: whether the assessment's course is a
        # platform's (tessera.platforms.events); a session carries that in its own row.
        course_lookups = [
            query for query in by_assessment.captured_queries if "platforms_platformcourse" in query["sql"]
        ]
        assert len(course_lookups) == 1
        assert len(by_assessment.captured_queries) == len(by_session.captured_queries) + 1

    def test_an_assessment_standing_alone_takes_as_many_queries_as_an_enrollment(
        self, assessment_offer, enrollment_offer, make_code, learner, assessment, running_session
    ):
        assessment.course = None
        assessment.save(update_fields=["course"])
        assessment_code, enrollment_code = make_code(assessment_offer), make_code(enrollment_offer)
        with CaptureQueriesContext(connection) as by_session:
            voucher_redeem(code=enrollment_code, user=learner, session=running_session, limited=False)
        with CaptureQueriesContext(connection) as by_assessment:
            voucher_redeem(code=assessment_code, user=learner, assessment=assessment, limited=False)
        assert len(by_assessment.captured_queries) == len(by_session.captured_queries)


class TestAssessmentReversal:
    def test_reversing_a_grant_ends_the_entitlement(self, assessment_offer, make_code, learner, assessment):
        redemption = voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        redemption_reverse(redemption=redemption, actor="staff")
        assert not _entitlement(learner).active
        assert Code.objects.get().uses == 0

    def test_reversing_a_retake_takes_back_its_attempts_only(self, make_offer, retake_offer, make_code, learner,
                                                             assessment):  # fmt: skip
        first = make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=1)
        voucher_redeem(code=make_code(first), user=learner, assessment=assessment)
        retake = voucher_redeem(code=make_code(retake_offer), user=learner, assessment=assessment)
        redemption_reverse(redemption=retake, actor="staff")
        entitlement = _entitlement(learner)
        assert (entitlement.active, entitlement.attempts) == (True, 1)

    def test_after_a_refund_the_assessment_can_be_bought_again(self, assessment_offer, make_code, learner,
                                                               assessment):  # fmt: skip
        redemption = voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        redemption_reverse(redemption=redemption, actor="staff")
        voucher_redeem(code=make_code(assessment_offer), user=learner, assessment=assessment)
        entitlement = _entitlement(learner)
        assert (entitlement.active, entitlement.attempts) == (True, 3)
        assert AssessmentEntitlement.objects.count() == 1


class TestAssessmentHandWrittenRead:
    def test_the_assessment_read_finds_what_the_orm_finds(
        self, assessment_offer, make_code, learner, other_learner, assessment
    ):
        code = codebook.normalize(make_code(assessment_offer, uses_per_code=3))
        voucher_redeem(code=code, user=learner, assessment=assessment)  # learner holds it, and the entitlement
        for user in (learner, other_learner):
            attempt = redeem.Attempt(user=user, session=None, assessment=assessment, product=None, client_ip=None,
                                     now=timezone.now())  # fmt: skip
            found = redeem._code_for_redemption(CodeKey(key=code, missing=CodeNotFound()), attempt)
            held = Redemption.objects.filter(code_id=code, user=user, reversed_at__isnull=True).exists()
            entitlement = AssessmentEntitlement.objects.filter(user=user, assessment=assessment).first()
            stored = Code.objects.select_related("batch__offer").get(pk=code)
            assert (columns_of(found.code), columns_of(found.code.batch.offer), found.held) == (
                columns_of(stored),
                columns_of(stored.batch.offer),
                held,
            )
            assert columns_of(found.holding) == columns_of(entitlement)
