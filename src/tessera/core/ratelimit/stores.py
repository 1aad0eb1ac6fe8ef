"""Where failed attempts are counted: the database, or Redis with the database behind it.

The counters live where every server process sees them: in the database by default (one
SELECT per attempt; per failure one INSERT ... ON CONFLICT DO UPDATE, on PostgreSQL and
SQLite >= 3.35) or, with REDIS_URL set, in Redis (one MGET per attempt; per failure one Lua
script, so INCR and EXPIRE happen as one). Any Redis error (refused, timed out, ...) is
logged as a warning and that call goes to the database instead: trouble with Redis never
refuses a request. After a failure Redis is left alone for REDIS_BACKOFF seconds and every
call goes straight to the database, so a Redis that hangs costs one timeout per process
and back-off, not one per call; then the next call tries Redis again.
"""

import functools
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import redis
from django.conf import settings
from django.db import connection, transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from tessera.core.models import FailureCounter

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# The database store deletes ended windows on about one failure in this many.
PRUNE_ONE_IN = 100
# Seconds a Redis connect or command may take before that call goes to the database instead.
REDIS_TIMEOUT = 0.5
# Seconds after a Redis failure during which every call goes straight to the database.
REDIS_BACKOFF = 30.0


class Window(NamedTuple):
    """One counter: a key under one limit (`counter`, e.g. "ip:203.0.113.9/60") in one window."""

    counter: str
    start: int
    end: int


class FailureStore(Protocol):
    def counts(self, windows: Sequence[Window]) -> list[int]:
        """Each window's count (0 for a counter never written), in order, in one read."""
        ...

    def add(self, windows: Sequence[Window], *, now: float) -> None:
        """Adds one to each window's counter, atomically per counter."""
        ...


class DatabaseStore:
    """Counters as FailureCounter rows, shared by every process using the database."""

    def counts(self, windows: Sequence[Window]) -> list[int]:
        with connection.cursor() as cursor:
            params = [value for window in windows for value in (window.counter, window.start)]
            cursor.execute(_select_sql(connection.vendor, len(windows)), params)
            found = {(row[0], int(row[1])): int(row[2]) for row in cursor.fetchall()}
        return [found.get((window.counter, window.start), 0) for window in windows]

    def add(self, windows: Sequence[Window], *, now: float) -> None:
        # One lock order for every statement, so two failures sharing counters never deadlock.
        params = [value for window in sorted(windows) for value in window]
        # SET LOCAL lasts to the end of the whole transaction: inside a caller's, whose commit
        # must keep its durability, the count simply joins it.
        own_transaction = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if own_transaction and connection.vendor == "postgresql":
                # A count may be lost in a crash, so its commit need not wait for the disk.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(_upsert_sql(connection.vendor, len(windows)), params)
            if secrets.randbelow(PRUNE_ONE_IN) == 0:
                self.prune(now=now)

    def prune(self, *, now: float) -> int:
        """Deletes the counters of ended windows; answers how many."""
        deleted, _ = FailureCounter.objects.filter(window_end__lte=int(now)).delete()
        return deleted


# Both statements are written by hand (docs/architecture.md, "Where Tessera writes SQL by hand").
# Every rate-limited attempt reads its counters, and the ORM's filter() over the same pairs took
# 592 µs of CPU against 62 µs (PostgreSQL; docs/benchmarks.md section 5). The upsert has no ORM
# form: bulk_create(update_conflicts=True) can only set the count to the new row's, not add one to
# the stored count. tests/core/ratelimit/test_stores.py holds both to what the ORM reads and writes.
# Built once per database vendor (which decides the quoting) and number of windows.
@functools.cache
def _select_sql(vendor: str, windows: int) -> str:
    table, key, start, _, count = _columns()
    pairs = " OR ".join([f"({key} = %s AND {start} = %s)"] * windows)
    return f"SELECT {key}, {start}, {count} FROM {table} WHERE {pairs}"  # noqa: S608 - names from the model, values as parameters


@functools.cache
def _upsert_sql(vendor: str, windows: int) -> str:
    table, key, start, end, count = _columns()
    rows = ", ".join(["(%s, %s, %s, 1)"] * windows)
    return (
        f"INSERT INTO {table} ({key}, {start}, {end}, {count}) VALUES {rows} "  # noqa: S608 - names from the model, values as parameters
        f"ON CONFLICT ({key}, {start}) DO UPDATE SET {count} = {table}.{count} + 1"
    )


def _columns() -> tuple[str, str, str, str, str]:
    """FailureCounter's table and its key, window_start, window_end and count columns, quoted."""
    meta, quote = FailureCounter._meta, connection.ops.quote_name
    column = {field.name: quote(str(field.column)) for field in meta.concrete_fields}  # concrete: never None
    return quote(meta.db_table), column["key"], column["window_start"], column["window_end"], column["count"]


# KEYS are the counters, ARGV their seconds to live; EXPIRE on every call keeps it correct even
# for a counter that somehow lost its expiry.
_ADD = """
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[i])
end
return 0
"""


class RedisStore:
    """Counters as Redis keys that expire when their window ends."""

    def __init__(self, client: "redis.Redis", *, prefix: str = "tessera:failures:") -> None:
        self.client = client
        self.prefix = prefix
        self._add = client.register_script(_ADD)

    def counts(self, windows: Sequence[Window]) -> list[int]:
        return [int(count or 0) for count in self.client.mget([self.name(window) for window in windows])]

    def add(self, windows: Sequence[Window], *, now: float) -> None:
        seconds_left = [max(1, math.ceil(window.end - now)) for window in windows]
        self._add(keys=[self.name(window) for window in windows], args=seconds_left)

    def name(self, window: Window) -> str:
        return f"{self.prefix}{window.counter}@{window.start}"


class FallbackStore:
    """Redis, with the database for every call that Redis fails and, after a failure, for every
    call during the next `backoff` seconds. Counts made meanwhile stay in the database, so while
    Redis is in trouble a key's failures are split between the two and it may get up to its
    limit from each."""

    def __init__(
        self,
        primary: RedisStore,
        fallback: FailureStore,
        *,
        backoff: float = REDIS_BACKOFF,
        clock: Clock = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.backoff = backoff
        self.clock = clock
        self._redis_skipped_until = -math.inf

    def counts(self, windows: Sequence[Window]) -> list[int]:
        if self._backing_off():
            return self.fallback.counts(windows)
        try:
            return self.primary.counts(windows)
        except redis.RedisError as error:
            self._failed(error, "reading")
            return self.fallback.counts(windows)

    def add(self, windows: Sequence[Window], *, now: float) -> None:
        if self._backing_off():
            self.fallback.add(windows, now=now)
            return
        try:
            self.primary.add(windows, now=now)
        except redis.RedisError as error:
            self._failed(error, "counting")
            self.fallback.add(windows, now=now)

    def _backing_off(self) -> bool:
        return self.clock() < self._redis_skipped_until

    def _failed(self, error: redis.RedisError, doing: str) -> None:
        # Threads of one process may race here; each sets about the same instant, so no lock.
        self._redis_skipped_until = self.clock() + self.backoff
        _warn(error, doing, self.backoff)


def _warn(error: redis.RedisError, doing: str, backoff: float) -> None:
    logger.warning(
        "Redis failed (%s: %s); %s failed attempts in the database instead, and for the next %g s.",
        type(error).__name__, error, doing, backoff,
    )  # fmt: skip


@functools.cache
def _redis_store(url: str) -> FallbackStore:
    """One client, with its connection pool, per process. Short timeouts and no retries: a
    Redis that hangs costs a call at most REDIS_TIMEOUT before the database takes over, and
    the calls of the next REDIS_BACKOFF seconds nothing."""
    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    return FallbackStore(RedisStore(client), DatabaseStore(), backoff=REDIS_BACKOFF)


def failure_store() -> FailureStore:
    """Redis (with the database when it fails) when REDIS_URL is set, else the database."""
    url = str(settings.REDIS_URL)
    return _redis_store(url) if url else DatabaseStore()
