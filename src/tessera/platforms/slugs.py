"""The slugs of a platform's courses and sessions: Tessera's own rows need one (the learner pages
and the audit log name sessions by slug), unique across every platform and Tessera's own catalog.

A slug is `<platform slug>-<slugified external id>` when that is free and at most 50 characters;
otherwise the same, cut short, with a digest of the platform and external id after it. Platform
slugs may contain hyphens, so two platforms can arrive at the same plain slug ("a" with "b-c",
"a-b" with "c"): whoever comes second gets the digest. A slug is chosen once, when the row is
created, and never changes, so links to it keep working.
"""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from django.db.models import Model
from django.utils.text import slugify

SLUG_MAX = 50  # SlugField's default max_length, which Course.slug and CourseSession.slug keep
DIGEST_TRIES = 4  # digests of 8, 12, 16, 20 hex digits: the first is all but certain to be free
CHUNK = 900  # values per IN (...): below SQLite's oldest limit of 999 parameters a statement


def slug_candidates(platform_slug: str, platform_pk: int, external_id: str) -> list[str]:
    """The slugs to try, in order, for one external id of one platform: always 1 + DIGEST_TRIES
    of them (the first digest twice when the readable slug is unusable)."""
    readable = f"{platform_slug}-{slugify(external_id)}".strip("-")
    digest = hashlib.sha256(f"{platform_pk}\x00{external_id}".encode()).hexdigest()
    digested = [
        f"{readable[: SLUG_MAX - length - 1].rstrip('-')}-{digest[:length]}"
        for length in range(8, 8 + 4 * DIGEST_TRIES, 4)
    ]
    usable = len(readable) <= SLUG_MAX and readable != platform_slug
    return [readable if usable else digested[0], *digested]


def slugs_taken(model: type[Model], slugs: Iterable[str]) -> set[str]:
    """Which of `slugs` a row of `model` already has."""
    wanted = sorted(set(slugs))
    taken: set[str] = set()
    for chunk in chunks(wanted, CHUNK):
        taken.update(model._default_manager.filter(slug__in=chunk).values_list("slug", flat=True))
    return taken


def slugs_chosen(model: type[Model], candidates: list[list[str]]) -> list[str]:
    """A free slug for each list of candidates (one list per new row, all of the same length),
    none chosen twice. Each round asks which of the rows' next candidates are taken, one query per
    CHUNK rows: the first round settles all but the rows whose readable slug is taken."""
    chosen: list[str | None] = [None] * len(candidates)
    claimed: set[str] = set()
    for round_ in range(len(candidates[0]) if candidates else 0):
        waiting = [row for row, slug in enumerate(chosen) if slug is None]
        if not waiting:
            break
        taken = slugs_taken(model, (candidates[row][round_] for row in waiting))
        for row in waiting:
            candidate = candidates[row][round_]
            if candidate not in taken and candidate not in claimed:
                chosen[row] = candidate
                claimed.add(candidate)
    for row, slug in enumerate(chosen):
        if slug is None:  # every digest taken: only if someone picked these slugs on purpose
            raise SlugsExhausted(candidates[row][0])
    return [slug for slug in chosen if slug is not None]


class SlugsExhausted(Exception):
    """No candidate slug is free; callers report it as bad input of the external id."""


T = TypeVar("T")


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
