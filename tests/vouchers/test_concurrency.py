"""Concurrent redeemers, for real: threads with their own database connections, exact counts.

The claim (uses never exceed max uses) is PostgreSQL's to prove; the same tests run on SQLite too,
where IMMEDIATE transactions queue the writers.
"""

from collections import Counter

import pytest

from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.vouchers.models import Assignment, Code, Product, Redemption
from tessera.vouchers.services import Recipient, assignments_create, voucher_redeem
from tests.concurrency import race

REDEEMERS = 16


@pytest.mark.django_db(transaction=True)
class TestConcurrentRedemption:
    def test_sixteen_redeemers_of_a_five_use_code_make_exactly_five_redemptions(
        self, enrollment_offer, make_code, make_learners, running_session
    ):
        code = make_code(enrollment_offer, uses_per_code=5)
        learners = make_learners(REDEEMERS)
        outcomes = race([
            lambda user=user: voucher_redeem(code=code, user=user, session=running_session) for user in learners
        ], success="redeemed")  # fmt: skip
        assert outcomes == Counter({"redeemed": 5, "exhausted": REDEEMERS - 5})
        assert Code.objects.get().uses == 5
        assert Redemption.objects.count() == 5
        assert Enrollment.objects.filter(session=running_session, active=True).count() == 5

    def test_the_last_seats_of_a_session_go_to_exactly_as_many_learners(
        self, enrollment_offer, make_batch, make_learners, running_session
    ):
        running_session.capacity = 3
        running_session.save()
        codes = list(make_batch(enrollment_offer, count=REDEEMERS).codes.values_list("code", flat=True))
        learners = make_learners(REDEEMERS)
        outcomes = race([
            lambda user=user, code=code: voucher_redeem(code=code, user=user, session=running_session)
            for user, code in zip(learners, codes, strict=True)
        ], success="redeemed")  # fmt: skip
        assert outcomes == Counter({"redeemed": 3, "not_eligible": REDEEMERS - 3})
        assert Enrollment.objects.filter(session=running_session).count() == 3
        assert Code.objects.filter(uses=1).count() == 3

    def test_one_learner_racing_with_one_multi_use_code_redeems_it_once(
        self, reactivation_offer, make_code, learner, ended_session
    ):
        code = make_code(reactivation_offer, uses_per_code=5)
        outcomes = race(
            [lambda: voucher_redeem(code=code, user=learner, session=ended_session)] * 8, success="redeemed"
        )
        assert outcomes["redeemed"] == 1
        assert set(outcomes) <= {"redeemed", "already_redeemed", "not_eligible"}
        assert Code.objects.get().uses == 1
        assert Redemption.objects.count() == 1

    def test_only_the_unique_index_stops_one_learner_redeeming_a_code_twice(
        self, enrollment_offer, make_code, learner, running_session, monkeypatch
    ):
        """With activation a no-op, no enrollment constraint helps: the partial unique index on
        (code, user) alone must turn the losers away."""
        from tessera.vouchers.products import PRODUCT_RULES

        monkeypatch.setattr(type(PRODUCT_RULES["enrollment"]), "activate", lambda self, **kwargs: None)
        code = make_code(enrollment_offer, uses_per_code=5)
        outcomes = race(
            [lambda: voucher_redeem(code=code, user=learner, session=running_session)] * 8, success="redeemed"
        )
        assert outcomes == Counter({"redeemed": 1, "already_redeemed": 7})
        assert Code.objects.get().uses == 1
        assert Redemption.objects.count() == 1

    def test_one_learner_racing_with_several_codes_enrolls_once_and_spends_one_code(
        self, enrollment_offer, make_batch, learner, running_session
    ):
        codes = list(make_batch(enrollment_offer, count=8).codes.values_list("code", flat=True))
        outcomes = race([
            lambda code=code: voucher_redeem(code=code, user=learner, session=running_session) for code in codes
        ], success="redeemed")  # fmt: skip
        assert outcomes["redeemed"] == 1
        assert sum(outcomes.values()) == 8
        assert set(outcomes) <= {"redeemed", "not_eligible"}
        assert Enrollment.objects.filter(user=learner).count() == 1
        assert Code.objects.filter(uses=1).count() == 1


@pytest.mark.django_db(transaction=True)
class TestConcurrentAssignment:
    def test_lists_racing_for_a_batchs_last_codes_never_get_one_code_twice(
        self, enrollment_offer, make_batch, public_url
    ):
        batch = make_batch(enrollment_offer, count=10)
        lists = [[Recipient(1, f"a{n}@example.org"), Recipient(2, f"b{n}@example.org")] for n in range(8)]
        outcomes = race([
            lambda recipients=recipients: assignments_create(batch=batch, recipients=recipients, actor="staff")
            for recipients in lists
        ], success="assigned", connect_first=True)  # fmt: skip
        assert outcomes == Counter({"assigned": 5, "not_enough_codes": 3})
        assert Assignment.objects.count() == 10
        assert Assignment.objects.values("code").distinct().count() == 10


@pytest.mark.django_db(transaction=True)
class TestConcurrentAttempts:
    def test_retake_codes_redeemed_at_once_add_exactly_up_to_the_allowance(
        self, make_offer, retake_offer, make_batch, learner, assessment
    ):
        """The learner holds one of three attempts; three retake codes of one attempt each race:
        exactly two add theirs (one UPDATE each, its WHERE re-checked against the newest row), the
        third finds the allowance reached, and nothing is counted twice or lost."""
        first = make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=1)
        voucher_redeem(code=make_batch(first).codes.get().code, user=learner, assessment=assessment)
        codes = list(make_batch(retake_offer, count=3).codes.values_list("code", flat=True))
        outcomes = race([
            lambda code=code: voucher_redeem(code=code, user=learner, assessment=assessment) for code in codes
        ], success="redeemed", connect_first=True)  # fmt: skip
        assert outcomes == Counter({"redeemed": 2, "not_eligible": 1})
        assert AssessmentEntitlement.objects.get(user=learner).attempts == 3
        assert Redemption.objects.filter(assessment=assessment, reversed_at=None).count() == 3
        assert Code.objects.filter(batch__offer=retake_offer, uses=1).count() == 2

    def test_two_retakes_at_once_both_count(self, make_offer, retake_offer, make_batch, learner, assessment):
        first = make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=1)
        voucher_redeem(code=make_batch(first).codes.get().code, user=learner, assessment=assessment)
        codes = list(make_batch(retake_offer, count=2).codes.values_list("code", flat=True))
        outcomes = race([
            lambda code=code: voucher_redeem(code=code, user=learner, assessment=assessment) for code in codes
        ], success="redeemed", connect_first=True)  # fmt: skip
        assert outcomes == Counter({"redeemed": 2})
        assert AssessmentEntitlement.objects.get(user=learner).attempts == 3

    def test_two_plain_codes_at_once_grant_a_newcomer_the_assessment_once(
        self, assessment_offer, make_batch, learner, assessment
    ):
        """Both read no entitlement; the one-per-learner unique index lets one in, the other is not_eligible."""
        codes = list(make_batch(assessment_offer, count=2).codes.values_list("code", flat=True))
        outcomes = race([
            lambda code=code: voucher_redeem(code=code, user=learner, assessment=assessment) for code in codes
        ], success="redeemed", connect_first=True)  # fmt: skip
        assert outcomes == Counter({"redeemed": 1, "not_eligible": 1})
        assert AssessmentEntitlement.objects.get(user=learner).attempts == 3
        assert Code.objects.filter(uses=1).count() == 1
