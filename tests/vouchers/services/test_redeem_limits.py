"""voucher_redeem and voucher_check hold every attempt to the rate limits themselves, called
directly as any entry point would (no HTTP): guesses and refusals count per learner and per the
address the caller passes, then RateLimited. Each count outlives the redemption's rolled-back
transaction (here a savepoint inside the test's), or no limit would ever be reached."""

import pytest

from tessera.catalog.models import Enrollment
from tessera.core.models import FailureCounter
from tessera.core.ratelimit.limiter import RateLimited
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import AlreadyRedeemed, CodeNotFound
from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import voucher_check, voucher_redeem

LIMIT = 3
REFUSAL_LIMIT = 5
ADDRESS = "203.0.113.9"

# Every test counts up to a limit within one minute's window, 10 s into it (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ratelimit_clock")


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.TESSERA_FAILED_ATTEMPTS = [(LIMIT, 60)]
    settings.TESSERA_REFUSED_ATTEMPTS = [(REFUSAL_LIMIT, 60)]


def unknown_code() -> str:
    return codebook.generate(1)[0]


def guess(service, user, session, address=ADDRESS) -> None:
    with pytest.raises(CodeNotFound):
        service(code=unknown_code(), user=user, session=session, client_ip=address)


class TestGuesses:
    def test_after_the_limit_even_a_good_code_is_refused_and_nothing_is_written(
        self, enrollment_offer, make_code, learner, running_session
    ):
        good = make_code(enrollment_offer)
        for _ in range(LIMIT):
            guess(voucher_redeem, learner, running_session)
        audit_rows = AuditEvent.objects.count()
        with pytest.raises(RateLimited) as limited:
            voucher_redeem(code=good, user=learner, session=running_session, client_ip=ADDRESS)
        assert limited.value.retry_after == 50  # the minute's window ends 50 s after the stopped clock
        assert not Redemption.objects.exists()
        assert not Enrollment.objects.exists()
        assert AuditEvent.objects.count() == audit_rows  # a limited attempt is not looked at, nor audited

    def test_a_check_is_limited_too(self, enrollment_offer, make_code, learner, running_session):
        for _ in range(LIMIT):
            guess(voucher_check, learner, running_session)
        with pytest.raises(RateLimited):
            voucher_check(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip=ADDRESS)

    def test_checks_and_redemptions_count_under_the_same_counters(
        self, enrollment_offer, make_code, learner, running_session
    ):
        guess(voucher_check, learner, running_session)
        guess(voucher_redeem, learner, running_session)
        guess(voucher_check, learner, running_session)
        with pytest.raises(RateLimited):
            voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip=ADDRESS)

    def test_the_learner_is_limited_from_any_address(self, learner, running_session):
        for index in range(LIMIT):
            guess(voucher_redeem, learner, running_session, address=f"198.51.100.{index}")
        with pytest.raises(RateLimited):
            voucher_redeem(code=unknown_code(), user=learner, session=running_session, client_ip="192.0.2.99")

    def test_the_address_is_limited_for_any_learner(self, make_learners, other_learner, running_session):
        for learner in make_learners(LIMIT):
            guess(voucher_redeem, learner, running_session)
        with pytest.raises(RateLimited):
            voucher_redeem(code=unknown_code(), user=other_learner, session=running_session, client_ip=ADDRESS)

    def test_the_counters_are_the_learners_and_the_addresses(self, learner, running_session):
        guess(voucher_redeem, learner, running_session)
        assert set(FailureCounter.objects.values_list("key", flat=True)) == {
            f"user:{learner.pk}/60", f"ip:{ADDRESS}/60", f"refused:user:{learner.pk}/60", f"refused:ip:{ADDRESS}/60",
        }  # fmt: skip

    def test_callers_without_an_address_share_one_counter(self, make_learners, other_learner, running_session):
        for learner in make_learners(LIMIT):
            guess(voucher_redeem, learner, running_session, address=None)
        with pytest.raises(RateLimited):
            voucher_redeem(code=unknown_code(), user=other_learner, session=running_session)

    def test_without_sharing_the_unknown_address_each_learner_is_counted_alone(
        self, enrollment_offer, make_code, make_learners, other_learner, running_session
    ):
        """A course platform that reports no learner address: one guesser is stopped, the others not."""
        guesser = make_learners(1)[0]
        for _ in range(LIMIT):
            with pytest.raises(CodeNotFound):
                voucher_check(code=unknown_code(), user=guesser, session=running_session, unknown_address_shared=False)
        with pytest.raises(RateLimited):
            voucher_redeem(code=unknown_code(), user=guesser, session=running_session, unknown_address_shared=False)
        redemption = voucher_redeem(
            code=make_code(enrollment_offer), user=other_learner, session=running_session, unknown_address_shared=False
        )
        assert redemption.client_ip is None
        assert set(FailureCounter.objects.values_list("key", flat=True)) == {
            f"user:{guesser.pk}/60", f"refused:user:{guesser.pk}/60"
        }  # fmt: skip


class TestRefusals:
    def test_refusals_of_a_real_code_are_held_to_the_refused_attempt_limit(
        self, enrollment_offer, make_code, learner, running_session
    ):
        code = make_code(enrollment_offer, uses_per_code=10)
        voucher_redeem(code=code, user=learner, session=running_session, client_ip=ADDRESS)
        for _ in range(REFUSAL_LIMIT):  # more than LIMIT: already_redeemed is no guess
            with pytest.raises(AlreadyRedeemed):
                voucher_redeem(code=code, user=learner, session=running_session, client_ip=ADDRESS)
        with pytest.raises(RateLimited):
            voucher_redeem(code=code, user=learner, session=running_session, client_ip=ADDRESS)

    def test_a_success_counts_nothing(self, enrollment_offer, make_code, make_learners, running_session):
        for learner in make_learners(REFUSAL_LIMIT + 1):
            voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip=ADDRESS)
        assert Redemption.objects.count() == REFUSAL_LIMIT + 1
        assert not FailureCounter.objects.exists()


class TestStaffOnALearnersBehalf:
    """limited=False: staff redeeming for a learner (`tessera redeem`) are neither limited nor counted."""

    def test_a_learner_at_the_limit_can_be_helped(self, enrollment_offer, make_code, learner, running_session):
        for _ in range(LIMIT):
            guess(voucher_redeem, learner, running_session)
        redemption = voucher_redeem(
            code=make_code(enrollment_offer), user=learner, session=running_session, limited=False
        )
        assert redemption.user == learner

    def test_staff_refusals_count_against_no_one(self, enrollment_offer, make_code, learner, running_session):
        for _ in range(LIMIT + 1):
            with pytest.raises(CodeNotFound):
                voucher_redeem(code=unknown_code(), user=learner, session=running_session, limited=False)
        assert not FailureCounter.objects.exists()
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session, client_ip=ADDRESS)
