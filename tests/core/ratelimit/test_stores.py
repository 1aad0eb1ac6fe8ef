"""The stores of failed attempts (tessera.core.ratelimit.stores): the database on SQLite and
PostgreSQL, the real Redis, and Redis in trouble with the database taking over."""

import time

import pytest
import redis
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from tessera.core import ratelimit
from tessera.core.models import FailureCounter
from tessera.core.ratelimit.limiter import FailureLimiter, Limit
from tessera.core.ratelimit.stores import DatabaseStore, FallbackStore, RedisStore, failure_store
from tests.core.ratelimit.conftest import (
    DAY_START,
    DEAD_REDIS_TIMEOUT,
    Guess,
    dead_redis,
    outcome,
    refusal_outcome,
    stored_count,
    warnings_logged,
)
from tests.rows import rolled_back


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The first word of each statement run, less the savepoints of the test's own transaction."""
    words = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    return [word for word in words if word not in {"SAVEPOINT", "RELEASE"}]


@pytest.fixture
def no_pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting without the occasional DELETE of ended windows, so the statements are known."""
    monkeypatch.setattr(ratelimit.stores, "PRUNE_ONE_IN", 10**12)


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
        monkeypatch.setattr(ratelimit.stores, "PRUNE_ONE_IN", 1)
        store = DatabaseStore()
        store.add([Limit(3, 60).window("user:1", DAY_START)], now=DAY_START)
        store.add([Limit(3, 60).window("user:2", DAY_START + 60)], now=DAY_START + 60)
        assert list(FailureCounter.objects.values_list("key", flat=True)) == ["user:2/60"]


MINUTE, HOUR = Limit(3, 60), Limit(10, 3600)


@pytest.mark.django_db
class TestDatabaseStoreAgainstTheOrm:
    """The store's SELECT and upsert are written by hand (docs/architecture.md, "Where Tessera
    writes SQL by hand"); each must read and change the rows as the ORM would."""

    WINDOWS = [MINUTE.window("user:1", DAY_START), MINUTE.window("user:2", DAY_START),
               MINUTE.window("ip:198.51.100.1", DAY_START), HOUR.window("user:1", DAY_START)]  # fmt: skip

    @pytest.fixture
    def written(self, no_pruning) -> None:
        """Counters of 2, 1 and none, and one under another window."""
        DatabaseStore().add(self.WINDOWS[:2], now=DAY_START)
        DatabaseStore().add(self.WINDOWS[:1], now=DAY_START)
        DatabaseStore().add([MINUTE.window("user:1", DAY_START + 60)], now=DAY_START)

    def rows(self) -> set[tuple[str, int, int, int]]:
        return set(FailureCounter.objects.values_list("key", "window_start", "window_end", "count"))

    def test_counts_read_what_the_orm_reads(self, written):
        by_orm = {(row.key, row.window_start): row.count for row in FailureCounter.objects.all()}
        expected = [by_orm.get((window.counter, window.start), 0) for window in self.WINDOWS]
        assert DatabaseStore().counts(self.WINDOWS) == expected == [2, 1, 0, 0]

    def test_adding_changes_the_rows_as_the_orms_get_or_create_and_increment(self, written):
        def by_orm() -> set[tuple[str, int, int, int]]:
            for window in sorted(self.WINDOWS):
                counter, _ = FailureCounter.objects.get_or_create(
                    key=window.counter, window_start=window.start, defaults={"window_end": window.end}
                )
                FailureCounter.objects.filter(pk=counter.pk).update(count=F("count") + 1)
            return self.rows()

        def by_hand() -> set[tuple[str, int, int, int]]:
            DatabaseStore().add(self.WINDOWS, now=DAY_START)
            return self.rows()

        assert rolled_back(by_hand) == rolled_back(by_orm)
        assert len(rolled_back(by_hand)) == 5


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
