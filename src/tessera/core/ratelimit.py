"""Limits on failed attempts (unknown or mistyped codes; wrong passwords), and more generous ones
on refused attempts of any kind, per user and per client IP.

How it counts
    Each limit ("10 a minute") has fixed windows aligned to Unix time (minutes start on the
    minute, days at UTC midnight) and one counter per key and window. Before an attempt runs it
    reads its counters, all in one read; if any is at its limit, the attempt is refused with
    RateLimited and nothing is written. Otherwise it runs. Only if it ends in one of the
    `counted` errors is one added to each of its counters (atomically per counter): that is a
    failure. A success or an error not counted writes nothing, so the common path costs one read.

Two families of limits
    Guesses (`counted`: unknown or mistyped codes) are held to TESSERA_FAILED_ATTEMPTS. Every
    refusal (`refused`: expired, exhausted, already redeemed, ... and the guesses too) is held
    to TESSERA_REFUSED_ATTEMPTS as well, under counters of its own ("refused:user:7/60"): a
    refusal of a real code tells a guesser nothing, but each one writes an audit row, and the
    audit log is append-only. Both families' counters are read in the one read, and a failure
    adds to all the counters it counts under in one write.

Concurrency: a key can overshoot by its attempts in flight
    Checking first and counting afterwards lets attempts under one key that run at the same
    moment all pass the check before any of them is counted. If at most K attempts under a key
    are ever in flight at once, the key gets at most limit + K - 1 failures in a window: every
    attempt that passed the check read its count before the count reached the limit, and those
    not yet counted at that moment were all in flight then, beside the one that reached it. K
    is bounded by the server's concurrency, workers * threads over all server processes (one
    gunicorn with 4 workers and 2 threads each: K <= 8, so 10 a minute becomes at most 17). No
    failure is ever lost: each is one atomic increment; only the refusal can come late.

    The exact alternative, used before, reserves a count on every counter before the attempt
    and gives it back after a success: parallel requests cannot slip past the limit at all,
    but every successful attempt costs two committed writes (4-8 ms on PostgreSQL, most of it the
    commit's wait for the disk), and every request from one shared address writes the same row
    twice, which serialises them. Tessera takes the cheap success and the bounded overshoot.

Stores
    The counters live where every server process sees them: in the database by default (one
    SELECT per attempt; per failure one INSERT ... ON CONFLICT DO UPDATE, on PostgreSQL and
    SQLite >= 3.35) or, with REDIS_URL set, in Redis (one MGET per attempt; per failure one Lua
    script, so INCR and EXPIRE happen as one). Any Redis error (refused, timed out, ...) is
    logged as a warning and that call goes to the database instead: trouble with Redis never
    refuses a request. After a failure Redis is left alone for REDIS_BACKOFF seconds and every
    call goes straight to the database, so a Redis that hangs costs one timeout per process
    and back-off, not one per call; then the next call tries Redis again.

Transactions
    Counters are not precious: on PostgreSQL a failure commits with synchronous_commit off, so
    it does not wait for the disk and a crash may lose the last fraction of a second of counts
    (at most 3 * wal_writer_delay, 0.6 s by default). Inside a caller's transaction the write
    joins it and changes nothing of its durability, but a rollback would take the count with
    it: use `failures_limited` outside any transaction.
"""

import functools
import hashlib
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple, Protocol

import redis
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from redis.backoff import NoBackoff
from redis.retry import Retry

from tessera.core.errors import DomainError
from tessera.core.models import FailureCounter

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Counted = tuple[type[BaseException], ...]

# Longer keys are stored as their digest, so every counter name fits FailureCounter.key.
KEY_LENGTH = 64
# Refusals' counters are named apart from the guesses' ("refused:ip:203.0.113.9/60").
REFUSED = "refused:"
# The database store deletes ended windows on about one failure in this many.
PRUNE_ONE_IN = 100
# Seconds a Redis connect or command may take before that call goes to the database instead.
REDIS_TIMEOUT = 0.5
# Seconds after a Redis failure during which every call goes straight to the database.
REDIS_BACKOFF = 30.0


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many failed attempts. Try again later."

    def __init__(self, *, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        unit = "second" if self.retry_after == 1 else "seconds"
        super().__init__(
            f"Too many failed attempts. Try again in {self.retry_after} {unit}.", retry_after=self.retry_after
        )


class Window(NamedTuple):
    """One counter: a key under one limit (`counter`, e.g. "ip:203.0.113.9/60") in one window."""

    counter: str
    start: int
    end: int


class Limit(NamedTuple):
    attempts: int
    period: int  # seconds

    def window(self, key: str, now: float) -> Window:
        start = int(now) // self.period * self.period
        return Window(f"{key}/{self.period}", start, start + self.period)


class FailureStore(Protocol):
    def counts(self, windows: Sequence[Window]) -> list[int]:
        """Each window's count (0 for a counter never written), in order, in one read."""
        ...

    def add(self, windows: Sequence[Window], *, now: float) -> None:
        """Adds one to each window's counter, atomically per counter."""
        ...


class FailureLimiter:
    def __init__(
        self, *, store: FailureStore, limits: Iterable[tuple[int, int]], clock: Clock = time.time,
        refusal_limits: Iterable[tuple[int, int]] = (),
    ) -> None:  # fmt: skip
        self.store = store
        self.limits = [Limit(*limit) for limit in limits]
        self.refusal_limits = [Limit(*limit) for limit in refusal_limits]
        self.clock = clock

    @contextmanager
    def attempt(self, *, keys: Iterable[str], counted: Counted, refused: Counted = ()) -> Iterator[None]:
        """Refuses the attempt if any key is at a limit; counts it against every key if it fails
        with one of the `counted` errors (under `limits`) or the `refused` ones (under
        `refusal_limits`), and raises that error again."""
        now = self.clock()
        unique_keys = list(dict.fromkeys(keys))
        failures = self._windows(self.limits, unique_keys, now)
        refusals = self._windows(self.refusal_limits, [REFUSED + key for key in unique_keys], now)
        if not failures and not refusals:
            yield
            return
        self._refuse_if_over(failures + refusals, now)
        try:
            yield
        except Exception as error:
            counts = (failures if isinstance(error, counted) else []) + (refusals if isinstance(error, refused) else [])
            if counts:
                self.store.add([window for _, window in counts], now=now)
            raise

    @staticmethod
    def _windows(limits: list[Limit], keys: list[str], now: float) -> list[tuple[Limit, Window]]:
        return [(limit, limit.window(short_key(key), now)) for key in keys for limit in limits]

    def _refuse_if_over(self, limited: list[tuple[Limit, Window]], now: float) -> None:
        counts = self.store.counts([window for _, window in limited])
        over = [window for (limit, window), count in zip(limited, counts, strict=True) if count >= limit.attempts]
        if over:
            raise RateLimited(retry_after=math.ceil(max(window.end for window in over) - now))


def short_key(key: str) -> str:
    if len(key) <= KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:40]


# --- stores -----------------------------------------------------------------------------------


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


# --- the entry point --------------------------------------------------------------------------


def now() -> float:
    """The clock, a module attribute so tests can move it."""
    return time.time()


def failures_limited(
    *, keys: Iterable[str], counted: Counted, refused: Counted = (), limits: Iterable[tuple[int, int]] | None = None
) -> AbstractContextManager[None]:
    """`with failures_limited(keys=request_keys(request), counted=GUESSES, refused=REFUSALS):`
    refuses with RateLimited while any key is at one of the `limits` (TESSERA_FAILED_ATTEMPTS
    unless given; they count the block's `counted` errors) or, when `refused` is given, at a limit
    of TESSERA_REFUSED_ATTEMPTS (which count its `refused` errors), and counts the block's error
    against every key."""
    limiter = FailureLimiter(
        store=failure_store(), limits=settings.TESSERA_FAILED_ATTEMPTS if limits is None else limits, clock=now,
        refusal_limits=settings.TESSERA_REFUSED_ATTEMPTS if refused else (),
    )  # fmt: skip
    return limiter.attempt(keys=keys, counted=counted, refused=refused)


# --- keys -------------------------------------------------------------------------------------


def request_keys(request: HttpRequest) -> list[str]:
    """The signed-in user's key, if any, and the client IP's key."""
    user = getattr(request, "user", None)
    user_keys = [f"user:{user.pk}"] if user is not None and user.is_authenticated else []
    # Clients without an address (WSGI makes REMOTE_ADDR optional) share one counter.
    return [*user_keys, ip_key(client_ip(request) or "unknown")]


def login_keys(request: HttpRequest | None, username: str) -> list[str]:
    """The account's key (the username as typed, which is how Django looks it up) and the client
    IP's key, apart from the redemption keys: failed log-ins and failed codes have limits of
    their own. Unknown usernames get a key too, so a refusal tells nothing of who exists."""
    user_keys = [f"login:user:{username}"] if username else []
    address = client_ip(request) if request is not None else None
    return [*user_keys, "login:" + ip_key(address or "unknown")]


def ip_key(address: str) -> str:
    """IPv4 addresses as they are; IPv6 addresses by their /64 network, since one subscriber
    commonly holds a whole /64 and could otherwise pick a fresh address for every attempt."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind TESSERA_TRUSTED_PROXIES = N proxies the N-th
    address from the right of X-Forwarded-For. Each proxy appends the address it was reached
    from; whatever stands further left came from the client and may be forged. None when the
    request carries no address at all."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = int(settings.TESSERA_TRUSTED_PROXIES)
    if proxies == 0:
        return remote
    entries = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", proxies)
    # Fewer entries than proxies: the request skipped the outer ones, and all entries are theirs.
    return _address(entries[-min(proxies, len(entries))]) or remote


def _address(entry: str) -> str | None:
    """An address from "203.0.113.9", "203.0.113.9:4711" or "[2001:db8::1]:443"; None if not one."""
    entry = entry.strip()
    if entry.startswith("["):
        inside, bracket, _ = entry[1:].partition("]")
        entry = inside if bracket else ""
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None
