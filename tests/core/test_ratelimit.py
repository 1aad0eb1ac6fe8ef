"""Limits on failed attempts: counting, refusing, windows, both stores, concurrency, settings, keys.

The limiter's behaviour is tested against both stores: the database (on SQLite and PostgreSQL)
and the real Redis at 127.0.0.1:6379 (or REDIS_URL). Redis that cannot be reached fails the
run under CI=true and skips its tests, in one line, elsewhere. A Redis in trouble is a real one
too: a closed port (connection refused) and a port that accepts but never answers (timeout).
"""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from redis.backoff import NoBackoff
from redis.retry import Retry

from tessera import settings as tessera_settings
from tessera.core import ratelimit
from tessera.core.models import FailureCounter
from tessera.core.ratelimit import (
    DatabaseStore,
    FailureLimiter,
    FailureStore,
    FallbackStore,
    Limit,
    RateLimited,
    RedisStore,
    Window,
    client_ip,
    failure_store,
    failures_limited,
    ip_key,
    request_keys,
)
from tests.concurrency import race

TEST_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
# A moment at the start of a UTC day, so minute, hour and day windows all start here.
DAY_START = 20_000 * 86400
# Seconds a test lets a Redis in trouble take before the database takes over.
DEAD_REDIS_TIMEOUT = 0.2


class WrongCode(Exception):
    """Stands for a counted failure: an unknown or mistyped code."""


class OtherError(Exception):
    """Stands for an error that is not counted."""


class Refusal(Exception):
    """Stands for any refusal of a redemption: the code expired, was used up, ..."""


class Guess(WrongCode, Refusal):
    """A failed guess is a refusal too, as CodeNotFound is a RedemptionRefused."""


class Clock:
    def __init__(self, at: float = DAY_START) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def outcome(limiter: FailureLimiter, *keys: str, fails: bool = True) -> str:
    """One attempt under `keys`: "failed" (counted), "refused" (rate limited) or "succeeded"."""
    try:
        with limiter.attempt(keys=keys, counted=(WrongCode,)):
            if fails:
                raise WrongCode()
    except WrongCode:
        return "failed"
    except RateLimited:
        return "refused"
    return "succeeded"


def stored_count(store: FailureStore, counter: str, start: int = DAY_START) -> int:
    if isinstance(store, RedisStore):
        return int(store.client.get(store.name(Window(counter, start, 0))) or 0)
    row = FailureCounter.objects.filter(key=counter, window_start=start).first()
    return row.count if row else 0


def everything_stored(store: FailureStore) -> dict[str, int]:
    """Every counter the store holds, by name, with its count."""
    if isinstance(store, RedisStore):
        return {name.decode(): int(store.client.get(name)) for name in store.client.scan_iter(f"{store.prefix}*")}
    rows = FailureCounter.objects.values_list("key", "window_start", "count")
    return {f"{key}@{start}": count for key, start, count in rows}


def dead_redis(port: int) -> RedisStore:
    """A RedisStore for a port where no Redis answers, with the production client's settings but a
    shorter timeout."""
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=DEAD_REDIS_TIMEOUT,
        socket_connect_timeout=DEAD_REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return RedisStore(client)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) but never answers: a Redis that hangs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    """A RedisStore under a prefix of its own, emptied afterwards."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true and cannot be reached at {TEST_REDIS_URL}: {error}")
        pytest.skip(f"Redis tests skipped: cannot connect to {TEST_REDIS_URL}")
    store = RedisStore(client, prefix=f"tessera-test:{uuid.uuid4().hex}:")
    yield store
    for name in client.scan_iter(match=f"{store.prefix}*"):
        client.delete(name)
    client.close()


@pytest.fixture(params=[pytest.param("database", marks=pytest.mark.django_db), "redis"])
def store(request: pytest.FixtureRequest) -> FailureStore:
    if request.param == "redis":
        return request.getfixturevalue("redis_store")
    return DatabaseStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_limiter(store: FailureStore, clock: Clock) -> Callable[..., FailureLimiter]:
    def make(*limits: tuple[int, int]) -> FailureLimiter:
        return FailureLimiter(store=store, limits=limits or [(3, 60)], clock=clock)

    return make


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


def refusal_outcome(limiter: FailureLimiter, *keys: str, error: type[Exception] | None = Refusal) -> str:
    """One attempt under `keys` ending in `error` (None: success), as the redeem paths count them."""
    try:
        with limiter.attempt(keys=keys, counted=(WrongCode,), refused=(Refusal,)):
            if error is not None:
                raise error()
    except Guess:
        return "guessed"
    except Refusal:
        return "refused"
    except RateLimited:
        return "rate_limited"
    return "succeeded"


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


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The first word of each statement run, less the savepoints of the test's own transaction."""
    words = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    return [word for word in words if word not in {"SAVEPOINT", "RELEASE"}]


@pytest.fixture
def no_pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting without the occasional DELETE of ended windows, so the statements are known."""
    monkeypatch.setattr(ratelimit, "PRUNE_ONE_IN", 10**12)


def show_synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
class TestDatabaseStore:
    def test_a_failure_is_one_row_per_key_and_limit(self, clock):
        limiter = FailureLimiter(store=DatabaseStore(), limits=[(3, 60), (10, 3600)], clock=clock)
        clock.advance(90)
        outcome(limiter, "user:1", "ip:198.51.100.1")
        rows = set(FailureCounter.objects.values_list("key", "window_start", "window_end", "count"))
        assert rows == {
            ("user:1/60", DAY_START + 60, DAY_START + 120, 1),
            ("ip:198.51.100.1/60", DAY_START + 60, DAY_START + 120, 1),
            ("user:1/3600", DAY_START, DAY_START + 3600, 1),
            ("ip:198.51.100.1/3600", DAY_START, DAY_START + 3600, 1),
        }

    def test_a_successful_attempt_is_one_select_and_nothing_else(self, clock):
        limiter = FailureLimiter(store=DatabaseStore(), limits=[(3, 60), (10, 3600)], clock=clock)
        outcome(limiter, "user:1", "ip:198.51.100.1")
        with CaptureQueriesContext(connection) as queries:
            assert outcome(limiter, "user:1", "ip:198.51.100.1", fails=False) == "succeeded"
        assert statements(queries) == ["SELECT"]

    def test_a_failed_attempt_is_one_select_and_one_upsert(self, clock, no_pruning):
        limiter = FailureLimiter(store=DatabaseStore(), limits=[(3, 60), (10, 3600)], clock=clock)
        with CaptureQueriesContext(connection) as queries:
            assert outcome(limiter, "user:1", "ip:198.51.100.1") == "failed"
        assert statements(queries) == ["SELECT", "INSERT"]

    def test_with_refusal_limits_a_success_is_still_one_select(self, clock):
        limiter = FailureLimiter(store=DatabaseStore(), limits=[(3, 60), (10, 3600)], refusal_limits=[(30, 60)],
                                 clock=clock)  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            assert refusal_outcome(limiter, "user:1", "ip:198.51.100.1", error=None) == "succeeded"
        assert statements(queries) == ["SELECT"]

    def test_with_refusal_limits_a_guess_is_one_select_and_one_upsert(self, clock, no_pruning):
        limiter = FailureLimiter(store=DatabaseStore(), limits=[(3, 60), (10, 3600)], refusal_limits=[(30, 60)],
                                 clock=clock)  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            assert refusal_outcome(limiter, "user:1", "ip:198.51.100.1", error=Guess) == "guessed"
        assert statements(queries) == ["SELECT", "INSERT"]
        assert FailureCounter.objects.count() == 6

    def test_counters_never_written_read_as_zero(self):
        store = DatabaseStore()
        written, unwritten = Limit(3, 60).window("user:1", DAY_START), Limit(3, 60).window("user:2", DAY_START)
        store.add([written], now=DAY_START)
        store.add([written], now=DAY_START)
        assert store.counts([unwritten, written]) == [0, 2]

    def test_ended_windows_are_pruned(self):
        store = DatabaseStore()
        ended, current = Limit(3, 60).window("user:1", DAY_START), Limit(3, 60).window("user:1", DAY_START + 60)
        store.add([ended, current], now=DAY_START)
        assert store.prune(now=DAY_START + 60) == 1
        assert list(FailureCounter.objects.values_list("window_start", flat=True)) == [DAY_START + 60]

    def test_some_failures_prune_on_the_way(self, monkeypatch):
        monkeypatch.setattr(ratelimit, "PRUNE_ONE_IN", 1)
        store = DatabaseStore()
        store.add([Limit(3, 60).window("user:1", DAY_START)], now=DAY_START)
        store.add([Limit(3, 60).window("user:2", DAY_START + 60)], now=DAY_START + 60)
        assert list(FailureCounter.objects.values_list("key", flat=True)) == ["user:2/60"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
class TestDatabaseStoreOnPostgres:
    @pytest.mark.django_db(transaction=True)
    def test_a_failure_commits_without_waiting_for_the_disk_and_only_its_own_transaction(self, no_pruning):
        with CaptureQueriesContext(connection) as queries:
            DatabaseStore().add([Limit(3, 60).window("user:1", DAY_START)], now=DAY_START)
        assert statements(queries) == ["BEGIN", "SET", "INSERT", "COMMIT"]
        assert queries.captured_queries[1]["sql"] == "SET LOCAL synchronous_commit TO OFF"
        assert show_synchronous_commit() == "on"
        assert FailureCounter.objects.get().count == 1

    @pytest.mark.django_db(transaction=True)
    def test_inside_a_callers_transaction_the_count_leaves_its_durability_alone(self, no_pruning):
        with transaction.atomic():
            with CaptureQueriesContext(connection) as queries:
                DatabaseStore().add([Limit(3, 60).window("user:1", DAY_START)], now=DAY_START)
            assert show_synchronous_commit() == "on"
        assert statements(queries) == ["INSERT"]
        assert FailureCounter.objects.get().count == 1


class TestRedisStore:
    def test_a_counter_expires_when_its_window_ends(self, redis_store):
        window = Limit(3, 60).window("user:1", DAY_START)
        redis_store.add([window], now=DAY_START + 20)
        assert 39 <= redis_store.client.ttl(redis_store.name(window)) <= 40

    def test_counters_never_written_read_as_zero_and_make_no_key(self, redis_store):
        written, unwritten = Limit(3, 60).window("user:1", DAY_START), Limit(3, 60).window("user:2", DAY_START)
        redis_store.add([written], now=DAY_START)
        redis_store.add([written], now=DAY_START)
        assert redis_store.counts([unwritten, written]) == [0, 2]
        assert not redis_store.client.exists(redis_store.name(unwritten))


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


class Monotonic:
    """A monotonic clock that moves only when told to, for the back-off."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.django_db
class TestFallbackStore:
    def test_with_redis_refusing_connections_the_failure_lands_in_the_database(self, clock, caplog):
        limiter = FailureLimiter(
            store=FallbackStore(dead_redis(port=1), DatabaseStore()), limits=[(3, 60)], clock=clock
        )
        assert outcome(limiter, "user:1") == "failed"
        assert stored_count(DatabaseStore(), "user:1/60") == 1
        logged = warnings_logged(caplog)
        assert len(logged) == 1  # the count that followed the failed read went straight to the database
        assert logged[0].startswith("Redis failed (ConnectionError: ")
        assert logged[0].endswith("; reading failed attempts in the database instead, and for the next 30 s.")

    def test_with_redis_refusing_connections_the_database_counts_still_refuse(self, clock):
        limiter = FailureLimiter(
            store=FallbackStore(dead_redis(port=1), DatabaseStore()), limits=[(2, 60)], clock=clock
        )
        assert [outcome(limiter, "user:1") for _ in range(3)] == ["failed", "failed", "refused"]
        assert outcome(limiter, "user:1", fails=False) == "refused"

    def test_with_redis_hanging_only_the_first_call_waits_its_timeout(self, clock, caplog, silent_port):
        limiter = FailureLimiter(
            store=FallbackStore(dead_redis(silent_port), DatabaseStore()), limits=[(30, 60)], clock=clock
        )
        started = time.monotonic()
        assert outcome(limiter, "user:1") == "failed"
        first = time.monotonic() - started
        started = time.monotonic()
        assert [outcome(limiter, "user:1") for _ in range(5)] == ["failed"] * 5
        next_five = time.monotonic() - started
        assert stored_count(DatabaseStore(), "user:1/60") == 6
        assert [message.split(":")[0] for message in warnings_logged(caplog)] == ["Redis failed (TimeoutError"]
        # One timeout for the read (the one warning); the count and the next five attempts skip
        # Redis altogether. Each that tried it would wait out two timeouts (its read and its
        # count), ten for the five: the bound leaves a loaded machine room and still tells them apart.
        assert first >= DEAD_REDIS_TIMEOUT
        assert next_five < 5 * DEAD_REDIS_TIMEOUT

    def test_after_the_back_off_redis_is_tried_again(self, redis_store, clock, caplog):
        monotonic = Monotonic()
        store = FallbackStore(redis_store, DatabaseStore(), backoff=30, clock=monotonic)
        limiter = FailureLimiter(store=store, limits=[(30, 60)], clock=clock)
        store._failed(redis.ConnectionError("refused"), "reading")  # as if Redis had just failed
        assert outcome(limiter, "user:1") == "failed"
        assert (stored_count(DatabaseStore(), "user:1/60"), stored_count(redis_store, "user:1/60")) == (1, 0)
        monotonic.now += 30
        assert outcome(limiter, "user:1") == "failed"
        assert (stored_count(DatabaseStore(), "user:1/60"), stored_count(redis_store, "user:1/60")) == (1, 1)

    def test_a_working_redis_keeps_the_counts_and_the_database_sees_none(self, redis_store, clock, caplog):
        limiter = FailureLimiter(store=FallbackStore(redis_store, DatabaseStore()), limits=[(3, 60)], clock=clock)
        assert outcome(limiter, "user:1") == "failed"
        assert stored_count(redis_store, "user:1/60") == 1
        assert not FailureCounter.objects.exists()
        assert warnings_logged(caplog) == []


class TestFailureStore:
    def test_the_database_is_the_default(self, settings):
        settings.REDIS_URL = ""
        assert isinstance(failure_store(), DatabaseStore)

    def test_redis_url_chooses_redis_then_the_database_with_one_client_per_process(self, settings):
        settings.REDIS_URL = "redis://127.0.0.1:6379/15"
        store = failure_store()
        assert isinstance(store, FallbackStore)
        assert isinstance(store.primary, RedisStore)
        assert isinstance(store.fallback, DatabaseStore)
        assert failure_store() is store
        assert store.primary.client.connection_pool.connection_kwargs["db"] == 15

    def test_the_redis_client_gives_up_within_half_a_second_and_never_retries(self, settings):
        settings.REDIS_URL = "redis://127.0.0.1:6379/15"
        store = failure_store()
        assert isinstance(store, FallbackStore)
        options = store.primary.client.connection_pool.connection_kwargs
        assert options["socket_timeout"] <= 0.5
        assert options["socket_connect_timeout"] <= 0.5
        assert options["retry"].get_retries() == 0


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
        monkeypatch.setattr(ratelimit, "now", clock)
        assert [limited_outcome() for _ in range(3)] == ["failed", "failed", "refused for 60"]
        assert FailureCounter.objects.get(key="user:1/60").count == 2
        clock.advance(60)
        assert limited_outcome() == "failed"

    def test_with_redis_down_it_still_answers_and_counts_in_the_database(self, settings, monkeypatch, caplog):
        ratelimit._redis_store.cache_clear()  # a store of an earlier test may be backing off already
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        settings.TESSERA_FAILED_ATTEMPTS = [(2, 60)]
        monkeypatch.setattr(ratelimit, "now", Clock())
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


class TestClientIp:
    def request(self, forwarded: str | None = None, remote: str = "192.0.2.1"):
        headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
        return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)

    def test_without_trusted_proxies_it_is_the_remote_address_whatever_the_header_says(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        assert client_ip(self.request("203.0.113.9")) == "192.0.2.1"

    def test_behind_one_proxy_it_is_the_address_that_proxy_appended(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request("198.51.100.66, 203.0.113.9")) == "203.0.113.9"

    def test_behind_two_proxies_it_is_the_second_address_from_the_right(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 2
        assert client_ip(self.request("1.2.3.4, 198.51.100.7,203.0.113.9")) == "198.51.100.7"

    def test_a_header_shorter_than_the_proxy_chain_gives_its_first_address(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 3
        assert client_ip(self.request("198.51.100.7, 203.0.113.9")) == "198.51.100.7"

    def test_without_the_header_it_is_the_remote_address(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request()) == "192.0.2.1"

    @pytest.mark.parametrize(
        "forwarded", ["", ",", " , ", "not-an-ip", "999.1.1.1", "\x00", "x" * 10_000, "203.0.113.9, garbage", "[::1"]
    )
    def test_a_malformed_header_gives_the_remote_address(self, settings, forwarded):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request(forwarded)) == "192.0.2.1"

    @pytest.mark.parametrize(
        ("forwarded", "address"),
        [("203.0.113.9:4711", "203.0.113.9"), ("[2001:DB8::1]:443", "2001:db8::1"), ("2001:0db8::0001", "2001:db8::1")],
    )
    def test_ports_and_brackets_are_dropped_and_addresses_normalised(self, settings, forwarded, address):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request(forwarded)) == address

    def test_a_missing_remote_address_is_unknown(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        assert client_ip(self.request(remote="")) is None


class TestKeys:
    def test_an_ipv4_address_is_its_own_key(self):
        assert ip_key("203.0.113.9") == "ip:203.0.113.9"

    def test_ipv6_addresses_share_the_key_of_their_64_network(self):
        assert ip_key("2001:db8:1:2::1") == ip_key("2001:db8:1:2:ffff::9") == "ip:2001:db8:1:2::/64"
        assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")

    def test_an_ipv4_mapped_ipv6_address_is_keyed_as_ipv4(self):
        assert ip_key("::ffff:203.0.113.9") == "ip:203.0.113.9"

    def test_a_signed_in_learner_is_limited_by_user_and_by_address(self, learner, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
        request.user = learner
        assert request_keys(request) == [f"user:{learner.pk}", "ip:203.0.113.9"]

    def test_an_anonymous_client_is_limited_by_address(self, settings):
        from django.contrib.auth.models import AnonymousUser

        settings.TESSERA_TRUSTED_PROXIES = 0
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
        request.user = AnonymousUser()
        assert request_keys(request) == ["ip:203.0.113.9"]
