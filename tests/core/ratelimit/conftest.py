"""Shared by the rate-limit tests: stand-in errors, a clock that moves when told, reading what a
store holds, and the stores themselves (the database, the real Redis at 127.0.0.1:6379 or
REDIS_URL, and Redis in trouble: a closed port, a port that never answers). Redis that cannot be
reached fails the run under CI=true and skips its tests, in one line, elsewhere."""

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tessera.core.models import FailureCounter
from tessera.core.ratelimit.limiter import FailureLimiter, RateLimited
from tessera.core.ratelimit.stores import DatabaseStore, FailureStore, RedisStore, Window

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


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


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
