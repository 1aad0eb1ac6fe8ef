"""Chores of the task worker: what `tessera db_worker` runs beside its loop, once at its start and
then every so often, to pick up work whose worker died (a batch job, a webhook delivery).

Core knows none of them: each app registers its own in its AppConfig.ready. A chore is a plain
function that is safe to run on several workers at once (each does its moves by conditional
UPDATEs), so every worker runs every chore, whatever queues it serves.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Chore:
    name: str
    run: Callable[[], object]
    # Seconds between two runs; asked when the worker starts, so the settings of the day decide.
    every: Callable[[], float]


_chores: dict[str, Chore] = {}


def chore_register(name: str, run: Callable[[], object], *, every: Callable[[], float]) -> None:
    """Keyed by name, so a second ready() replaces a chore instead of running it twice."""
    _chores[name] = Chore(name=name, run=run, every=every)


def chores() -> list[Chore]:
    return list(_chores.values())
