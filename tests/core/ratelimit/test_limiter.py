"""The limiter (tessera.core.ratelimit.limiter): counting, refusing, windows, both families of
limits, concurrency and the settings, against both stores."""

import os
import subprocess
import sys
import threading
from collections import Counter

import pytest
from django.core.exceptions import ImproperlyConfigured

from tessera import settings as tessera_settings
from tessera.core import ratelimit
from tessera.core.models import FailureCounter
from tessera.core.ratelimit.limiter import FailureLimiter, RateLimited, failures_limited
from tessera.core.ratelimit.stores import DatabaseStore, FailureStore
from tests.concurrency import race
from tests.core.ratelimit.conftest import (
    Clock,
    Guess,
    OtherError,
    Refusal,
    WrongCode,
    everything_stored,
    outcome,
    refusal_outcome,
    stored_count,
    warnings_logged,
)


class TestFailureLimiter:
    def test_the_limit_is_reached_after_exactly_the_limit_of_failures(self, make_limiter):
        limiter = make_limiter((3, 60))
        assert [outcome(limiter, "user:1") for _ in range(5)] == ["failed"] * 3 + ["refused"] * 2

    def test_a_refused_attempt_does_not_run(self, make_limiter):
        limiter = make_limiter((1, 60))
        outcome(limiter, "user:1")
        ran = []
        with pytest.raises(RateLimited), limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
            ran.append(True)
        assert ran == []

    def test_the_refusal_says_to_retry_when_the_window_ends(self, make_limiter, clock):
        limiter = make_limiter((3, 60))
        clock.advance(5)
        for _ in range(3):
            outcome(limiter, "user:1")
        clock.advance(19.5)
        with pytest.raises(RateLimited) as refused, limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
            pass
        assert refused.value.retry_after == 36  # 35.5 seconds left, rounded up
        assert refused.value.code == "rate_limited"
        assert refused.value.http_status == 429

    def test_retry_after_is_at_least_one_second(self, make_limiter, clock):
        limiter = make_limiter((1, 60))
        outcome(limiter, "user:1")
        clock.advance(59.9999)
        with pytest.raises(RateLimited) as refused, limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
            pass
        assert refused.value.retry_after == 1

    def test_successes_do_not_count(self, make_limiter, store):
        limiter = make_limiter((3, 60))
        assert {outcome(limiter, "user:1", fails=False) for _ in range(10)} == {"succeeded"}
        assert stored_count(store, "user:1/60") == 0
        assert [outcome(limiter, "user:1") for _ in range(4)] == ["failed"] * 3 + ["refused"]

    def test_errors_not_counted_do_not_count_and_pass_through(self, make_limiter, store):
        limiter = make_limiter((3, 60))
        for _ in range(5):
            with pytest.raises(OtherError), limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
                raise OtherError()
        assert stored_count(store, "user:1/60") == 0

    def test_a_counted_error_is_raised_again_unchanged(self, make_limiter):
        limiter = make_limiter((3, 60))
        error = WrongCode("no such code")
        with pytest.raises(WrongCode) as raised, limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
            raise error
        assert raised.value is error

    def test_other_keys_are_unaffected(self, make_limiter):
        limiter = make_limiter((3, 60))
        for _ in range(3):
            outcome(limiter, "user:1")
        assert outcome(limiter, "user:1") == "refused"
        assert outcome(limiter, "user:2") == "failed"

    def test_the_next_window_frees_the_key(self, make_limiter, clock):
        limiter = make_limiter((3, 60))
        for _ in range(3):
            outcome(limiter, "user:1")
        clock.advance(59)
        assert outcome(limiter, "user:1") == "refused"
        clock.advance(1)
        assert [outcome(limiter, "user:1") for _ in range(4)] == ["failed"] * 3 + ["refused"]

    def test_a_day_limit_holds_across_minute_windows(self, make_limiter, clock):
        limiter = make_limiter((2, 60), (3, 86400))
        assert [outcome(limiter, "user:1") for _ in range(3)] == ["failed", "failed", "refused"]
        clock.advance(60)
        assert outcome(limiter, "user:1") == "failed"
        clock.advance(60)
        with pytest.raises(RateLimited) as refused, limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
            pass
        assert refused.value.retry_after == 86400 - 120

    def test_the_user_key_is_enforced_from_any_ip(self, make_limiter):
        limiter = make_limiter((3, 60))
        for _ in range(3):
            outcome(limiter, "user:1", "ip:198.51.100.1")
        assert outcome(limiter, "user:1", "ip:203.0.113.9") == "refused"

    def test_the_ip_key_is_enforced_for_any_user(self, make_limiter):
        limiter = make_limiter((3, 60))
        for user in ("user:1", "user:2", "user:3"):
            outcome(limiter, user, "ip:198.51.100.1")
        assert outcome(limiter, "user:4", "ip:198.51.100.1") == "refused"
        assert outcome(limiter, "user:4", "ip:203.0.113.9") == "failed"

    def test_refusals_do_not_count_against_the_other_keys(self, make_limiter):
        """A learner behind a blocked shared address keeps their own allowance elsewhere."""
        limiter = make_limiter((2, 60))
        for _ in range(2):
            outcome(limiter, "user:1", "ip:198.51.100.1")
        assert {outcome(limiter, "user:2", "ip:198.51.100.1") for _ in range(5)} == {"refused"}
        assert [outcome(limiter, "user:2", "ip:203.0.113.9") for _ in range(3)] == ["failed", "failed", "refused"]

    def test_a_key_given_twice_counts_once(self, make_limiter):
        limiter = make_limiter((3, 60))
        assert [outcome(limiter, "user:1", "user:1") for _ in range(4)] == ["failed"] * 3 + ["refused"]

    def test_long_keys_are_counted_under_their_digest(self, make_limiter):
        limiter = make_limiter((3, 60))
        long_key, other_long_key = "x" * 500, "x" * 499 + "y"
        assert [outcome(limiter, long_key) for _ in range(4)] == ["failed"] * 3 + ["refused"]
        assert outcome(limiter, other_long_key) == "failed"

    def test_without_keys_nothing_is_limited(self, make_limiter):
        limiter = make_limiter((1, 60))
        assert {outcome(limiter) for _ in range(3)} == {"failed"}

    def test_the_attempt_past_the_limit_is_refused_and_counted_nowhere(self, make_limiter, store):
        limiter = make_limiter((3, 60), (10, 86400))
        assert [outcome(limiter, "user:1", "ip:198.51.100.1") for _ in range(4)] == ["failed"] * 3 + ["refused"]
        assert stored_count(store, "user:1/60") == stored_count(store, "ip:198.51.100.1/60") == 3
        assert stored_count(store, "user:1/86400") == stored_count(store, "ip:198.51.100.1/86400") == 3

    def test_a_success_writes_nothing(self, make_limiter, store):
        limiter = make_limiter((3, 60), (10, 86400))
        outcome(limiter, "user:1", "ip:198.51.100.1")
        before = everything_stored(store)
        assert outcome(limiter, "user:1", "ip:198.51.100.1", fails=False) == "succeeded"
        assert outcome(limiter, "user:2", "ip:203.0.113.9", fails=False) == "succeeded"
        assert everything_stored(store) == before
        assert len(before) == 4

    def test_a_refusal_writes_nothing(self, make_limiter, store):
        limiter = make_limiter((1, 60))
        outcome(limiter, "user:1", "ip:198.51.100.1")
        before = everything_stored(store)
        assert outcome(limiter, "user:1", "ip:203.0.113.9") == "refused"
        assert everything_stored(store) == before


@pytest.fixture
def two_families(store: FailureStore, clock: Clock) -> FailureLimiter:
    """3 failed guesses a minute, and 5 refusals of any kind."""
    return FailureLimiter(store=store, limits=[(3, 60)], refusal_limits=[(5, 60)], clock=clock)


class TestRefusalLimits:
    def test_refusals_of_real_codes_are_limited_by_the_refusal_limit(self, two_families):
        outcomes = [refusal_outcome(two_families, "user:1", "ip:198.51.100.1") for _ in range(6)]
        assert outcomes == ["refused"] * 5 + ["rate_limited"]

    def test_a_limited_key_is_refused_even_a_success(self, two_families):
        for _ in range(5):
            refusal_outcome(two_families, "user:1")
        assert refusal_outcome(two_families, "user:1", error=None) == "rate_limited"
        assert refusal_outcome(two_families, "user:2", error=None) == "succeeded"

    def test_guesses_count_against_both_limits_under_counters_of_their_own(self, two_families, store):
        assert [refusal_outcome(two_families, "user:1", error=Guess) for _ in range(4)] == ["guessed"] * 3 + [
            "rate_limited"
        ]
        assert stored_count(store, "user:1/60") == 3
        assert stored_count(store, "refused:user:1/60") == 3

    def test_guesses_and_other_refusals_share_the_refusal_limit(self, two_families):
        for error in (Guess, Refusal, Guess, Refusal, Refusal):
            refusal_outcome(two_families, "ip:198.51.100.1", error=error)
        assert refusal_outcome(two_families, "ip:198.51.100.1") == "rate_limited"

    def test_other_refusals_leave_the_guess_limit_alone(self, two_families, store):
        for _ in range(4):
            refusal_outcome(two_families, "user:1")
        assert stored_count(store, "user:1/60") == 0
        assert refusal_outcome(two_families, "user:1", error=Guess) == "guessed"

    def test_a_rate_limited_attempt_counts_nowhere(self, two_families, store):
        for _ in range(5):
            refusal_outcome(two_families, "user:1")
        before = everything_stored(store)
        assert refusal_outcome(two_families, "user:1") == "rate_limited"
        assert everything_stored(store) == before

    def test_the_next_window_frees_the_key(self, two_families, clock):
        for _ in range(5):
            refusal_outcome(two_families, "user:1")
        clock.advance(60)
        assert refusal_outcome(two_families, "user:1") == "refused"


class TestRateLimited:
    def test_it_says_in_plain_words_when_to_try_again(self):
        error = RateLimited(retry_after=30)
        assert error.message == "Too many failed attempts. Try again in 30 seconds."
        assert error.as_dict() == {"error": "rate_limited", "detail": error.message, "retry_after": 30}

    def test_it_asks_for_at_least_one_second(self):
        error = RateLimited(retry_after=0)
        assert error.retry_after == 1
        assert error.message == "Too many failed attempts. Try again in 1 second."


def limited_outcome() -> str:
    """One failing attempt through the configured limiter, as the API makes it."""
    try:
        with failures_limited(keys=["user:1", "ip:198.51.100.1"], counted=(WrongCode,)):
            raise WrongCode()
    except WrongCode:
        return "failed"
    except RateLimited as refused:
        return f"refused for {refused.retry_after}"


@pytest.mark.django_db
class TestFailuresLimited:
    def test_it_applies_the_configured_limits_on_the_configured_store(self, settings, monkeypatch):
        settings.REDIS_URL = ""
        settings.TESSERA_FAILED_ATTEMPTS = [(2, 60)]
        clock = Clock()
        monkeypatch.setattr(ratelimit.limiter, "now", clock)
        assert [limited_outcome() for _ in range(3)] == ["failed", "failed", "refused for 60"]
        assert FailureCounter.objects.get(key="user:1/60").count == 2
        clock.advance(60)
        assert limited_outcome() == "failed"

    def test_with_redis_down_it_still_answers_and_counts_in_the_database(self, settings, monkeypatch, caplog):
        ratelimit.stores._redis_store.cache_clear()  # a store of an earlier test may be backing off already
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        settings.TESSERA_FAILED_ATTEMPTS = [(2, 60)]
        monkeypatch.setattr(ratelimit.limiter, "now", Clock())
        assert [limited_outcome() for _ in range(3)] == ["failed", "failed", "refused for 60"]
        assert FailureCounter.objects.get(key="user:1/60").count == 2
        assert len(warnings_logged(caplog)) == 1  # the first read; the rest skip Redis during the back-off


ATTEMPTERS = 16
# Attempts under one key in flight at once, as with 4 server workers of 2 threads each.
IN_FLIGHT = 8


@pytest.fixture(params=[pytest.param("database", marks=pytest.mark.django_db(transaction=True)), "redis"])
def shared_store(request: pytest.FixtureRequest) -> FailureStore:
    """The store seen by many threads at once; on the database each thread commits for real."""
    if request.param == "redis":
        return request.getfixturevalue("redis_store")
    return DatabaseStore()


class TestConcurrentFailures:
    def test_sixteen_concurrent_failures_on_one_key_count_exactly_sixteen(self, shared_store):
        limiter = FailureLimiter(store=shared_store, limits=[(100, 60)], clock=Clock())
        outcomes = race([lambda: outcome(limiter, "user:1")] * ATTEMPTERS)
        assert outcomes == Counter({"failed": ATTEMPTERS})
        assert stored_count(shared_store, "user:1/60") == ATTEMPTERS

    def test_attempts_in_flight_together_overshoot_the_limit_by_their_number_less_one(self, shared_store):
        """The worst case, forced: with a key at limit - 1, IN_FLIGHT attempts all pass the check
        before any of them is counted. Every one is counted, and from then on the key is refused."""
        limit = 10
        limiter = FailureLimiter(store=shared_store, limits=[(limit, 60)], clock=Clock())
        for _ in range(limit - 1):
            outcome(limiter, "user:1")
        all_checked = threading.Barrier(IN_FLIGHT)

        def attempt_held_in_flight() -> str:
            try:
                with limiter.attempt(keys=["user:1"], counted=(WrongCode,)):
                    all_checked.wait(timeout=30)  # broken, and so a crash, if any attempt was refused
                    raise WrongCode()
            except WrongCode:
                return "failed"

        assert race([attempt_held_in_flight] * IN_FLIGHT) == Counter({"failed": IN_FLIGHT})
        assert stored_count(shared_store, "user:1/60") == limit - 1 + IN_FLIGHT
        assert [outcome(limiter, "user:1", fails=fails) for fails in (True, False)] == ["refused", "refused"]

    def test_a_race_at_the_limit_counts_every_failure_it_lets_through_then_refuses(self, shared_store):
        limit = 10
        limiter = FailureLimiter(store=shared_store, limits=[(limit, 60)], clock=Clock())
        for _ in range(limit - 1):
            outcome(limiter, "user:1", "ip:198.51.100.1")
        outcomes = race([lambda: outcome(limiter, "user:1", "ip:198.51.100.1")] * IN_FLIGHT)
        assert set(outcomes) <= {"failed", "refused"}
        assert outcomes.total() == IN_FLIGHT
        assert outcomes["failed"] >= 1
        assert stored_count(shared_store, "user:1/60") == limit - 1 + outcomes["failed"]
        assert stored_count(shared_store, "ip:198.51.100.1/60") == limit - 1 + outcomes["failed"]
        assert outcome(limiter, "user:1", "ip:198.51.100.1") == "refused"

    def test_concurrent_successes_leave_no_count(self, shared_store):
        limiter = FailureLimiter(store=shared_store, limits=[(100, 60)], clock=Clock())
        outcomes = race([lambda: outcome(limiter, "user:1", fails=False)] * ATTEMPTERS)
        assert outcomes == Counter({"succeeded": ATTEMPTERS})
        assert stored_count(shared_store, "user:1/60") == 0


class TestFailedAttemptsSetting:
    def test_limits_read_attempts_over_a_period_with_or_without_a_unit(self, monkeypatch):
        monkeypatch.setenv("TESSERA_FAILED_ATTEMPTS", " 5/30, 20/h,7/2D ")
        assert tessera_settings.env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m") == [(5, 30), (20, 3600), (7, 172800)]

    def test_unset_or_empty_means_the_default(self, monkeypatch):
        monkeypatch.setenv("TESSERA_FAILED_ATTEMPTS", " ")
        assert tessera_settings.env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m,100/1d") == [(10, 60), (100, 86400)]
        monkeypatch.delenv("TESSERA_FAILED_ATTEMPTS")
        assert tessera_settings.env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m,100/1d") == [(10, 60), (100, 86400)]

    @pytest.mark.parametrize(
        "value",
        ["ten/1m", "10", "10/", "0/1m", "10/0s", "10/1w", "10/1m,", "-1/1m", "10/367d", "10/1m/1d", "\u0661\u0660/1m"],
    )
    def test_a_value_that_is_not_a_limit_is_refused_by_name(self, monkeypatch, value):
        monkeypatch.setenv("TESSERA_FAILED_ATTEMPTS", value)
        with pytest.raises(ImproperlyConfigured, match=r'^TESSERA_FAILED_ATTEMPTS is a list like "10/1m,100/1d"'):
            tessera_settings.env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m")

    def test_refusals_have_a_more_generous_limit_of_their_own(self):
        assert tessera_settings.TESSERA_REFUSED_ATTEMPTS == [(30, 60), (300, 86400)]

    def test_one_period_given_twice_is_refused(self, monkeypatch):
        monkeypatch.setenv("TESSERA_FAILED_ATTEMPTS", "10/60,20/1m")
        with pytest.raises(ImproperlyConfigured, match="names one period twice"):
            tessera_settings.env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m")

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("TESSERA_FAILED_ATTEMPTS", "lots", "TESSERA_FAILED_ATTEMPTS is a list like"),
            ("TESSERA_REFUSED_ATTEMPTS", "30/1w", "TESSERA_REFUSED_ATTEMPTS is a list like"),
            ("TESSERA_TRUSTED_PROXIES", "-1", "TESSERA_TRUSTED_PROXIES is 0 or more, not -1."),
            ("TESSERA_TRUSTED_PROXIES", "one", "TESSERA_TRUSTED_PROXIES is a whole number, not 'one'."),
        ],
    )
    def test_a_bad_value_stops_start_up_with_one_clear_line(self, tmp_path, name, value, message):
        result = subprocess.run(
            [sys.executable, "-c", "import tessera.settings"],
            env={**os.environ, "TESSERA_VAR_DIR": str(tmp_path), name: value},
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0
        assert message in result.stderr.strip().splitlines()[-1]
