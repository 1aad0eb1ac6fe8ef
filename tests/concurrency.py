"""Racing threads, for the concurrency tests: every attempt in its own thread with its own
database connection, all released at once, their outcomes counted."""

import threading
from collections import Counter
from collections.abc import Callable, Sequence

from django.db import connections

from tessera.core.errors import DomainError


def race(
    attempts: Sequence[Callable[[], object]], *, success: str | None = None, connect_first: bool = False
) -> Counter[str]:
    """Runs the attempts at once and counts their outcomes: a refusal (DomainError) by its code,
    any other exception as a crash, and an attempt that returns as `success` or, without one, as
    the text it returned. `connect_first`: each thread opens its database connection before the
    start, so that the attempts themselves overlap."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], object]) -> None:
        try:
            if connect_first:
                connections["default"].ensure_connection()
            start.wait()
            result = attempt()
            outcome = str(result) if success is None else success
        except DomainError as error:
            outcome = error.code
        except Exception as error:  # an unexpected failure must show in the counts
            outcome = f"crash: {error!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
