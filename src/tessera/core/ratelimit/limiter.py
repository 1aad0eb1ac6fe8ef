"""Limits on failed attempts (unknown or mistyped codes; wrong passwords), and more generous ones
on refused attempts of any kind, per user and per client IP (keys.py names them; stores.py keeps
the counts, in the database or Redis).

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

Transactions
    Counters are not precious: on PostgreSQL a failure commits with synchronous_commit off, so
    it does not wait for the disk and a crash may lose the last fraction of a second of counts
    (at most 3 * wal_writer_delay, 0.6 s by default). Inside a caller's transaction the write
    joins it and changes nothing of its durability, but a rollback would take the count with
    it: use `failures_limited` outside any transaction.
"""

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

from django.conf import settings

from tessera.core.errors import DomainError
from tessera.core.ratelimit.keys import short_key
from tessera.core.ratelimit.stores import Clock, FailureStore, Window, failure_store

Counted = tuple[type[BaseException], ...]

# Refusals' counters are named apart from the guesses' ("refused:ip:203.0.113.9/60").
REFUSED = "refused:"


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


class Limit(NamedTuple):
    attempts: int
    period: int  # seconds

    def window(self, key: str, now: float) -> Window:
        start = int(now) // self.period * self.period
        return Window(f"{key}/{self.period}", start, start + self.period)


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


def now() -> float:
    """The clock, a module attribute so tests can move it."""
    return time.time()


def failures_limited(
    *, keys: Iterable[str], counted: Counted, refused: Counted = (), limits: Iterable[tuple[int, int]] | None = None
) -> AbstractContextManager[None]:
    """`with failures_limited(keys=attempt_keys(user, address), counted=GUESSES, refused=REFUSALS):`
    refuses with RateLimited while any key is at one of the `limits` (TESSERA_FAILED_ATTEMPTS
    unless given; they count the block's `counted` errors) or, when `refused` is given, at a limit
    of TESSERA_REFUSED_ATTEMPTS (which count its `refused` errors), and counts the block's error
    against every key."""
    limiter = FailureLimiter(
        store=failure_store(), limits=settings.TESSERA_FAILED_ATTEMPTS if limits is None else limits, clock=now,
        refusal_limits=settings.TESSERA_REFUSED_ATTEMPTS if refused else (),
    )  # fmt: skip
    return limiter.attempt(keys=keys, counted=counted, refused=refused)
