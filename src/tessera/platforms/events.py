"""A course platform's events, written in the transaction of the change they tell of (a
transactional outbox): a redemption that rolls back leaves no event, and no event is written for
a change that did not commit.

The voucher service sends its `..._in_transaction` signals (tessera.vouchers.signals) as the last
statements of its transaction; the receivers here (connected in PlatformsConfig.ready) first ask
whether the session is a platform's, one indexed query, which for most sessions is all they do.
For a platform's session they take its next sequence numbers with one UPDATE of its row and
insert the events (on PostgreSQL in the same statement). That UPDATE locks the row until the
commit, so a second transaction numbering an event of the same platform waits for the first to
commit: events commit in the order of their numbers, without gaps, and a reader never sees event
n+1 before event n. The platform's row is the last lock each of these transactions takes (after
the code's, the redemption's, the batch's), so no two of them wait for each other the other way
round.

A reactivation's end is no change anyone makes: `reactivations_expire` (a chore of the task worker,
and `tessera emit-expired-events`) writes one entitlement.expired event for each reactivation of
a platform's session whose end has passed, claiming it by a conditional UPDATE first, so however
many workers run it at once, each end is told once.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tessera.catalog.models import Assessment, AssessmentEntitlement, CourseSession, Enrollment
from tessera.core.db import fetch_one
from tessera.platforms import delivery
from tessera.platforms.feed import wire_time
from tessera.platforms.models import (
    PlatformCourse,
    PlatformEvent,
    PlatformLearner,
    PlatformReactivation,
    PlatformSession,
)
from tessera.vouchers.models import Batch, Product, Redemption
from tessera.vouchers.selectors.codes import display_of

Type = PlatformEvent.Type
EXPIRE_MAX = 1000  # reactivations one run tells the end of at most; the next run the rest

# Runs inside every redemption on a platform's session: hand-written SQL, as on the redemption's
# own hot path (see tessera.core.db). The session's mapping (unique index on session_id), its
# course's, and the user's learner id on that platform if they are its learner.
PLATFORM_OF_SESSION = (
    "SELECT ps.platform_id, ps.id, ps.external_id, pc.external_id, pl.external_id"
    " FROM platforms_platformsession ps JOIN platforms_platformcourse pc ON pc.id = ps.course_id"
    " LEFT JOIN platforms_platformlearner pl ON pl.platform_id = ps.platform_id AND pl.user_id = %s"
    " WHERE ps.session_id = %s"
)
# The numbers of `count` new events: the row lock this takes orders the events by commit. Raw SQL
# for RETURNING (PostgreSQL, SQLite >= 3.35): the ORM would need an UPDATE and a SELECT.
NEXT_SEQ = (
    "UPDATE platforms_platform SET last_event_seq = last_event_seq + %s WHERE id = %s"
    " RETURNING last_event_seq, webhook_url"
)
# On PostgreSQL, the numbers taken and the events written by one statement: the platform's row is
# then locked from it to the commit that follows, not across a second round trip and the Python
# between them too. Every other redemption of the platform waits for that lock, and under the
# threaded server each round trip's return waits for the GIL besides: with NEXT_SEQ and then
# bulk_create, redemptions on a platform's session ran at 0.61x the rate of those on a Tessera
# session; with this statement at 0.90x (bench/bench_platforms.py, docs/benchmarks.md section 7).
# Each event's id, type and data are made before, in the order of their numbers.
NUMBER_AND_WRITE = (
    "WITH numbered AS (UPDATE platforms_platform SET last_event_seq = last_event_seq + %s WHERE id = %s"
    " RETURNING id, last_event_seq, webhook_url),"
    " written AS (INSERT INTO platforms_platformevent (id, platform_id, seq, type, occurred_at, data)"
    " SELECT e.id, n.id, n.last_event_seq - %s + e.place, e.type, %s, e.data"
    " FROM numbered n, unnest(%s::uuid[], %s::text[], %s::jsonb[]) WITH ORDINALITY AS e(id, type, data, place))"
    " SELECT last_event_seq, webhook_url FROM numbered"
)


@dataclass(frozen=True)
class Owner:
    """A platform's session, as its events name it, and the learner they are about."""

    platform_id: int
    session_pk: int  # the PlatformSession's
    session: str
    course: str
    learner: str | None  # the user's external id on the platform, None if they are not its learner


def _owner(*, session_id: int, user_id: int) -> Owner | None:
    row = fetch_one(PLATFORM_OF_SESSION, [user_id, session_id])
    return None if row is None else Owner(*row)


def _about(owner: Owner, redemption: Redemption) -> dict[str, Any]:
    """What every event of a redemption says first: who, where, what."""
    return {
        "learner": owner.learner, "user": redemption.user_id, "session": owner.session, "course": owner.course,
        "product": redemption.product, "code": _display(redemption), "redemption": redemption.pk,
    }  # fmt: skip


def _display(redemption: Redemption) -> str:
    code = redemption.code  # loaded with its batch on a redemption's path; a query or two on a reversal
    return display_of(code)


def _write(platform_id: int, events: list[tuple[str, dict[str, Any]]], *, at: datetime) -> None:
    if connection.vendor == "postgresql":
        numbered = _numbered_and_written(platform_id, events, at)
    else:
        numbered = _numbered_then_written(platform_id, events, at)
    if numbered is None:  # the foreign keys keep the platform: a bug, which rolls the change back
        raise LookupError(f"no platform {platform_id} to number its events")
    if numbered[1]:  # its webhook_url
        transaction.on_commit(partial(delivery.delivery_wake, platform_id))


def _numbered_and_written(
    platform_id: int, events: list[tuple[str, dict[str, Any]]], at: datetime
) -> tuple[Any, ...] | None:
    """PostgreSQL: one statement (NUMBER_AND_WRITE); JSON as the model's JSONField writes it."""
    ids, kinds, data = [uuid.uuid4() for _ in events], [kind for kind, _ in events], [json.dumps(d) for _, d in events]
    return fetch_one(NUMBER_AND_WRITE, [len(events), platform_id, len(events), at, ids, kinds, data])


def _numbered_then_written(
    platform_id: int, events: list[tuple[str, dict[str, Any]]], at: datetime
) -> tuple[Any, ...] | None:
    """SQLite (one writer at a time, so nobody waits for the lock): the numbers, then the rows."""
    numbered = fetch_one(NEXT_SEQ, [len(events), platform_id])
    if numbered is not None:
        first = numbered[0] - len(events) + 1
        PlatformEvent.objects.bulk_create(
            PlatformEvent(platform_id=platform_id, seq=first + offset, type=kind, occurred_at=at, data=data)
            for offset, (kind, data) in enumerate(events)
        )
    return numbered


# --- the receivers (connected in PlatformsConfig.ready) -------------------------------------------


def on_voucher_redeemed(sender: object, *, redemption: Redemption, **kwargs: Any) -> None:
    if redemption.assessment_id is not None:
        _assessment_redeemed(redemption)
        return
    # The redemption holds its code's row lock until it commits: a session of Tessera's own catalog
    # (loaded with the redemption, so no query) keeps that short by asking nothing more.
    if redemption.session is None or redemption.session.source != CourseSession.Source.PLATFORM:
        return
    owner = _owner(session_id=redemption.session.pk, user_id=redemption.user_id)
    if owner is None:
        return
    about = _about(owner, redemption)
    effect = _granted(owner, redemption)
    _write_redeemed(owner.platform_id, redemption, about, effect)


def _write_redeemed(platform_id: int, redemption: Redemption, about: dict[str, Any], effect: dict[str, Any]) -> None:
    at = redemption.redeemed_at
    redeemed = {**about, "redeemed_at": wire_time(at)}
    _write(platform_id, [(Type.CODE_REDEEMED, redeemed), (Type.ENTITLEMENT_GRANTED, {**about, "effect": effect})],
           at=at)  # fmt: skip


def _granted(owner: Owner, redemption: Redemption) -> dict[str, Any]:
    if redemption.product == Product.ENROLLMENT:
        return {"enrolled": True}
    if redemption.product == Product.PROCTORING:
        return {"proctored": True}
    until = _reactivated_until(redemption)
    PlatformReactivation.objects.create(
        redemption=redemption, platform_id=owner.platform_id, session_id=owner.session_pk,
        user_id=redemption.user_id, until=until,
    )  # fmt: skip
    return {"reactivated_until": wire_time(until)}


def _reactivated_until(redemption: Redemption) -> datetime:
    """As the reactivation just wrote it to the enrollment."""
    enrollment = Enrollment.objects.only("reactivated_until").get(
        user_id=redemption.user_id, session_id=redemption.session_id
    )
    if enrollment.reactivated_until is None:  # the rule has just set it: a bug, which rolls the redemption back
        raise LookupError("a reactivated enrollment without its end")
    return enrollment.reactivated_until


def on_redemption_reversed(sender: object, *, redemption: Redemption, use_returned: bool, **kwargs: Any) -> None:
    at = redemption.reversed_at or timezone.now()  # set by the service before it sends this
    if redemption.assessment_id is not None:
        _assessment_reversed(redemption, use_returned=use_returned, at=at)
        return
    if redemption.session_id is None:
        return
    owner = _owner(session_id=redemption.session_id, user_id=redemption.user_id)
    if owner is None:
        return
    revoked = {
        **_about(owner, redemption), "effect": _revoked(redemption), "use_returned": use_returned,
        "reversed_at": wire_time(at),
    }  # fmt: skip
    _write(owner.platform_id, [(Type.ENTITLEMENT_REVOKED, revoked)], at=at)


def _revoked(redemption: Redemption) -> dict[str, Any]:
    if redemption.product == Product.ENROLLMENT:
        return {"enrolled": False}
    if redemption.product == Product.PROCTORING:
        return {"proctored": False}
    # Its end is told now, never again as expired (unless the chore claimed it first).
    running = PlatformReactivation.objects.filter(pk=redemption.pk, expired_event_at=None, revoked_at=None)
    running.update(revoked_at=redemption.reversed_at)
    enrolled = Enrollment.objects.filter(user_id=redemption.user_id, session_id=redemption.session_id, active=True)
    return {"reactivated_until": None, "enrolled": enrolled.exists()}


def on_batch_revoked(sender: object, *, batch: Batch, codes: int, at: datetime, **kwargs: Any) -> None:
    offer = batch.offer
    if offer.assessment_id is not None:
        _assessment_batch_revoked(batch, codes=codes, at=at)
        return
    if offer.session_id is None:  # an offer for any session: no platform's
        return
    mapping = PlatformSession.objects.select_related("course").filter(session_id=offer.session_id).first()
    if mapping is None:
        return
    revoked = {
        "session": mapping.external_id, "course": mapping.course.external_id, "product": offer.product,
        "batch": batch.pk, "tag": batch.tag, "codes_revoked": codes, "revoked_at": wire_time(at),
    }  # fmt: skip
    _write(mapping.platform_id, [(Type.BATCH_REVOKED, revoked)], at=at)


# --- an assessment of a platform's course --------------------------------------------------------
# Platforms own courses, not assessments: an assessment belongs to a course or stands alone, and
# the platform whose course it belongs to hears of its codes. A rarer path than a session's, so
# the ORM: one indexed lookup of the course's mapping, none for an assessment that stands alone.


@dataclass(frozen=True)
class CourseOwner:
    """The platform of an assessment's course, as its events name the course, and the learner."""

    platform_id: int
    course: str
    learner: str | None


def _course_owner(*, course_id: int | None, user_id: int) -> CourseOwner | None:
    if course_id is None:
        return None
    mapping = PlatformCourse.objects.filter(course_id=course_id).values_list("platform_id", "external_id").first()
    if mapping is None:
        return None
    platform_id, course = mapping
    learner = PlatformLearner.objects.filter(platform_id=platform_id, user_id=user_id).values_list("external_id")
    found = learner.first()
    return CourseOwner(platform_id=platform_id, course=course, learner=found[0] if found else None)


def _about_assessment(owner: CourseOwner, redemption: Redemption, assessment: Assessment) -> dict[str, Any]:
    return {
        "learner": owner.learner, "user": redemption.user_id, "session": None, "course": owner.course,
        "assessment": assessment.slug, "product": redemption.product, "code": _display(redemption),
        "redemption": redemption.pk,
    }  # fmt: skip


def _attempts_held(redemption: Redemption, assessment: Assessment) -> tuple[int, bool]:
    """The attempts the learner holds at the assessment and whether the entitlement is active, as
    the redemption or its reversal has just left them (an ended entitlement holds none)."""
    held = AssessmentEntitlement.objects.filter(user_id=redemption.user_id, assessment=assessment)
    row = held.values_list("attempts", "active").first()
    return (row[0], True) if row and row[1] else (0, False)


def _assessment_redeemed(redemption: Redemption) -> None:
    assessment = redemption.assessment
    owner = _course_owner(course_id=assessment.course_id, user_id=redemption.user_id) if assessment else None
    if assessment is None or owner is None:
        return
    attempts, _ = _attempts_held(redemption, assessment)
    effect = {"attempts": attempts, "attempts_added": redemption.attempts}
    _write_redeemed(owner.platform_id, redemption, _about_assessment(owner, redemption, assessment), effect)


def _assessment_reversed(redemption: Redemption, *, use_returned: bool, at: datetime) -> None:
    assessment = redemption.assessment
    owner = _course_owner(course_id=assessment.course_id, user_id=redemption.user_id) if assessment else None
    if assessment is None or owner is None:
        return
    attempts, active = _attempts_held(redemption, assessment)
    revoked = {
        **_about_assessment(owner, redemption, assessment), "effect": {"attempts": attempts, "active": active},
        "use_returned": use_returned, "reversed_at": wire_time(at),
    }  # fmt: skip
    _write(owner.platform_id, [(Type.ENTITLEMENT_REVOKED, revoked)], at=at)


def _assessment_batch_revoked(batch: Batch, *, codes: int, at: datetime) -> None:
    assessment = batch.offer.assessment
    if assessment is None or assessment.course_id is None:
        return
    mapping = PlatformCourse.objects.filter(course_id=assessment.course_id).values_list("platform_id", "external_id")
    found = mapping.first()
    if found is None:
        return
    platform_id, course = found
    revoked = {
        "session": None, "course": course, "assessment": assessment.slug, "product": batch.offer.product,
        "batch": batch.pk, "tag": batch.tag, "codes_revoked": codes, "revoked_at": wire_time(at),
    }  # fmt: skip
    _write(platform_id, [(Type.BATCH_REVOKED, revoked)], at=at)


# --- a reactivation's end ------------------------------------------------------------------------


def reactivations_expire(*, now: datetime | None = None) -> int:
    """Writes one entitlement.expired event for each running reactivation of a platform's session
    whose end has passed; answers how many. Safe to run on several workers at once."""
    now = now or timezone.now()
    due = PlatformReactivation.objects.filter(expired_event_at=None, revoked_at=None, until__lte=now)
    ended = 0
    for pk in due.order_by("until").values_list("pk", flat=True)[:EXPIRE_MAX]:
        ended += _expire(pk, now)
    return ended


def _expire(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        # Claimed first: a second worker's UPDATE waits for this row, then finds it claimed.
        claimed = PlatformReactivation.objects.filter(pk=pk, expired_event_at=None, revoked_at=None)
        if not claimed.update(expired_event_at=now):
            return False
        reactivation = PlatformReactivation.objects.select_related("session__course", "redemption__code__batch").get(
            pk=pk
        )
        redemption, session = reactivation.redemption, reactivation.session
        learner = PlatformLearner.objects.filter(platform_id=reactivation.platform_id, user_id=reactivation.user_id)
        owner = Owner(
            platform_id=reactivation.platform_id, session_pk=session.pk, session=session.external_id,
            course=session.course.external_id, learner=learner.values_list("external_id", flat=True).first(),
        )  # fmt: skip
        expired = {
            **_about(owner, redemption), "effect": {"reactivated_until": None},
            "expired_at": wire_time(reactivation.until),
        }  # fmt: skip
        _write(reactivation.platform_id, [(Type.ENTITLEMENT_EXPIRED, expired)], at=now)
    return True
