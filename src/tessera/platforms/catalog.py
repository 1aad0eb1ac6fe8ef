"""A platform's catalog: its courses and sessions, upserted by the platform's external ids, and
archived. Tessera keeps them as its own Course and CourseSession rows (so vouchers, pages and the
audit log work as for any session) plus the mapping rows of tessera.platforms.

Upserts are idempotent: the same fields again change nothing and write no audit row. A change
that would leave issued codes unusable (reactivation or proctoring turned off, or the session
archived, while live codes for it exist) is refused with WouldBreakCodes unless forced; a forced
change is audited with what it broke. See docs/platforms.md, "The catalog".

One platform's catalog writes queue behind each other (catalog_locked), so two requests never
create the same external id twice; the bulk path is tessera.platforms.catalog_import.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from tessera.catalog.models import Course, CourseSession
from tessera.core.errors import InvalidInput
from tessera.platforms.errors import WouldBreakCodes
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession
from tessera.platforms.selectors import live_codes_by_product, platform_course, platform_session
from tessera.platforms.slugs import SlugsExhausted, slug_candidates, slugs_chosen
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent, Product

T = TypeVar("T")
M = TypeVar("M", bound=Model)

# pg_advisory_xact_lock(CATALOG_LOCK, platform id): one platform's catalog writes, one at a time.
# On SQLite every write transaction (IMMEDIATE) already runs alone.
CATALOG_LOCK = 0x7E55_CA7A
# A new row's slug may be taken by another platform between the check and the insert (only on
# PostgreSQL, whose writers run side by side); the next attempt reads the slugs taken again.
ATTEMPTS = 3
MAX_EXTERNAL_ID = PlatformCourse._meta.get_field("external_id").max_length or 255
MAX_DESCRIPTION = 20_000
MAX_CAPACITY = 2_147_483_647  # PositiveIntegerField's upper bound on every database
MAX_REACTIVATION_WEEKS = 32_767  # PositiveSmallIntegerField's
MAX_TITLE = 200  # Course.title's and CourseSession.title's max_length
STATES = tuple(CourseSession.State.values)
ARCHIVED = CourseSession.State.ARCHIVED
PLATFORM = CourseSession.Source.PLATFORM  # every session a platform's catalog creates


class Values:
    """values(): the fields as a plain dict (dataclasses.asdict deep-copies every value, which
    costs a second or more over an import of ten thousand rows)."""

    def values(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class CourseFields(Values):
    title: str
    description: str = ""

    def checked(self) -> "CourseFields":
        title = self.title.strip()
        if not title:
            raise InvalidInput("A course needs a title.", field="title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"Title is at most {MAX_TITLE} characters.", field="title")
        if len(self.description) > MAX_DESCRIPTION:
            raise InvalidInput(f"A description is at most {MAX_DESCRIPTION:,} characters.", field="description")
        return replace(self, title=title)


@dataclass(frozen=True)
class SessionFields(Values):
    """What a platform says about one of its sessions (a PUT replaces all of it)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    enrollment_opens_at: datetime | None = None
    enrollment_closes_at: datetime | None = None
    capacity: int | None = None  # None: unlimited
    offers_proctored_certificate: bool = False
    reactivation_enabled: bool = False
    reactivation_weeks: int | None = None  # None: TESSERA_REACTIVATION_WEEKS
    state: str = CourseSession.State.ACTIVE

    @classmethod
    def of(cls, session: CourseSession) -> "SessionFields":
        return cls(**{field.name: getattr(session, field.name) for field in fields(cls)})

    def checked(self) -> "SessionFields":
        title = self.title.strip()
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"Title is at most {MAX_TITLE} characters.", field="title")
        for name in ("starts_at", "ends_at", "enrollment_opens_at", "enrollment_closes_at"):
            moment = getattr(self, name)
            if moment is not None and timezone.is_naive(moment):
                raise InvalidInput("A moment needs its offset from UTC.", field=name)
        if self.ends_at < self.starts_at:
            raise InvalidInput("A session cannot end before it starts.", field="ends_at")
        opens, closes = self.enrollment_opens_at, self.enrollment_closes_at
        if opens is not None and closes is not None and closes <= opens:
            raise InvalidInput("Enrollment closes before it opens.", field="enrollment_closes_at")
        if self.capacity is not None and not 0 <= self.capacity <= MAX_CAPACITY:
            raise InvalidInput(f"A capacity runs from 0 to {MAX_CAPACITY:,}, or none.", field="capacity")
        weeks = self.reactivation_weeks
        if weeks is not None and not 1 <= weeks <= MAX_REACTIVATION_WEEKS:
            raise InvalidInput(
                f"Reactivation weeks run from 1 to {MAX_REACTIVATION_WEEKS:,}.", field="reactivation_weeks"
            )
        if self.state not in STATES:
            raise InvalidInput(f"State is one of {', '.join(STATES)}.", field="state")
        return replace(self, title=title)

    def breaks(self, session: CourseSession) -> set[str]:
        """The products whose live codes for `session` this change would leave unusable."""
        products = set()
        if session.reactivation_enabled and not self.reactivation_enabled:
            products.add(Product.REACTIVATION.value)
        if session.offers_proctored_certificate and not self.offers_proctored_certificate:
            products.add(Product.PROCTORING.value)
        if session.state != ARCHIVED and self.state == ARCHIVED:
            products.update(Product.values)  # no product of an archived session can be redeemed
        return products


def changes(row: Model, values: dict[str, object]) -> dict[str, list[object]]:
    """The fields whose value differs from the row's, as [old, new] the audit log can store."""
    return {
        name: [logged(getattr(row, name)), logged(value)]
        for name, value in values.items()
        if getattr(row, name) != value
    }


def logged(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def catalog_id_checked(external_id: str, field: str = "external_id") -> str:
    """An id a platform gives one of its courses or sessions. Stricter than the ids it only reads
    by (learner_selectors.external_id_checked): these become slugs, and the learner pages and
    the audit log show them."""
    if (
        not external_id.strip()
        or len(external_id) > MAX_EXTERNAL_ID
        or any(ord(character) < 32 or ord(character) == 127 for character in external_id)
    ):
        raise InvalidInput(
            f"An external id is 1 to {MAX_EXTERNAL_ID} characters, not only spaces, without control characters.",
            field=field,
        )
    return external_id


def codes_broken(breaking: dict[int, set[str]]) -> dict[int, dict[str, int]]:
    """For each course session (by id) whose change breaks codes of some products: how many live
    codes of those products it would break; sessions with none are left out."""
    wanted = {session_id: products for session_id, products in breaking.items() if products}
    live = live_codes_by_product(wanted) if wanted else {}
    broken = {
        session_id: {product: count for product, count in live.get(session_id, {}).items() if product in products}
        for session_id, products in wanted.items()
    }
    return {session_id: counts for session_id, counts in broken.items() if counts}


@contextmanager
def catalog_locked(platform: Platform) -> Iterator[None]:
    """A transaction in which this platform's catalog changes alone (see CATALOG_LOCK)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CATALOG_LOCK, platform.pk])
        yield


def retried(work: Callable[[], T]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return work()
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def free_slugs(model: type[Model], platform: Platform, external_ids: list[str], field: str) -> list[str]:
    candidates = [slug_candidates(platform.slug, platform.pk, external_id) for external_id in external_ids]
    try:
        return slugs_chosen(model, candidates)
    except SlugsExhausted as exhausted:
        raise InvalidInput(f"No free slug is left for {exhausted}; choose another external id.", field=field) from None


@dataclass(frozen=True)
class Upserted(Generic[M]):
    row: M
    created: bool


# --- courses ------------------------------------------------------------------------------------


def course_upsert(
    *, platform: Platform, external_id: str, course: CourseFields, actor: str
) -> Upserted[PlatformCourse]:
    """Creates the platform's course, or brings it up to date; the same fields again change nothing."""
    external_id, course = catalog_id_checked(external_id), course.checked()
    return retried(lambda: _course_upsert(platform, external_id, course, actor))


def _course_upsert(platform: Platform, external_id: str, fields: CourseFields, actor: str) -> Upserted[PlatformCourse]:
    with catalog_locked(platform):
        mapping = (
            PlatformCourse.objects.select_related("course").filter(platform=platform, external_id=external_id).first()
        )
        if mapping is None:
            (slug,) = free_slugs(Course, platform, [external_id], "external_id")
            course = Course.objects.create(slug=slug, **fields.values())
            mapping = PlatformCourse.objects.create(platform=platform, external_id=external_id, course=course)
            audit_record(
                action=AuditEvent.Action.COURSE_CREATED, actor=actor, platform_id=platform.pk, course=external_id,
                slug=slug,
            )  # fmt: skip
            return Upserted(mapping, created=True)
        if changed := changes(mapping.course, fields.values()):
            for name in changed:
                setattr(mapping.course, name, getattr(fields, name))
            mapping.course.save(update_fields=list(changed))
            audit_record(
                action=AuditEvent.Action.COURSE_CHANGED, actor=actor, platform_id=platform.pk, course=external_id,
                changed=changed,
            )  # fmt: skip
        return Upserted(mapping, created=False)


# --- sessions -----------------------------------------------------------------------------------


def session_upsert(
    *,
    platform: Platform,
    course_external_id: str,
    external_id: str,
    session: SessionFields,
    force: bool = False,
    actor: str,
) -> Upserted[PlatformSession]:
    """Creates the platform's session under its course, or brings it up to date (a session named
    under another of the platform's courses moves to this one). Unknown course: DoesNotExist."""
    external_id, session = catalog_id_checked(external_id), session.checked()
    return retried(lambda: _session_upsert(platform, course_external_id, external_id, session, force, actor))


def _session_upsert(
    platform: Platform, course_external_id: str, external_id: str, fields: SessionFields, force: bool, actor: str
) -> Upserted[PlatformSession]:
    with catalog_locked(platform):
        course = platform_course(platform, course_external_id)
        mapping = (
            PlatformSession.objects.select_related("session", "course")
            .filter(platform=platform, external_id=external_id)
            .first()
        )
        if mapping is None:
            return Upserted(_session_create(platform, course, external_id, fields, actor), created=True)
        _session_change(mapping, course, fields, force=force, actor=actor)
        return Upserted(mapping, created=False)


def _session_create(
    platform: Platform, course: PlatformCourse, external_id: str, fields: SessionFields, actor: str
) -> PlatformSession:
    (slug,) = free_slugs(CourseSession, platform, [external_id], "external_id")
    session = CourseSession.objects.create(course_id=course.course_id, slug=slug, source=PLATFORM, **fields.values())
    mapping = PlatformSession.objects.create(platform=platform, external_id=external_id, course=course, session=session)
    audit_record(
        action=AuditEvent.Action.SESSION_CREATED, actor=actor, platform_id=platform.pk, course=course.external_id,
        session=external_id, slug=slug,
    )  # fmt: skip
    return mapping


def session_archive(
    *, platform: Platform, course_external_id: str, external_id: str, force: bool = False, actor: str
) -> PlatformSession:
    """Archives the session: its codes stay queryable, but none can be redeemed any more (the
    redemption service refuses them as product_unavailable). Archiving it again changes nothing."""
    with catalog_locked(platform):
        mapping = platform_session(platform, course_external_id, external_id)
        archived = replace(SessionFields.of(mapping.session), state=ARCHIVED)
        _session_change(mapping, mapping.course, archived, force=force, actor=actor)
    return mapping


def _session_change(
    mapping: PlatformSession, course: PlatformCourse, fields: SessionFields, *, force: bool, actor: str
) -> None:
    session = mapping.session
    changed = changes(session, fields.values())
    moved = mapping.course_id != course.pk
    if moved:
        changed["course"] = [mapping.course.external_id, course.external_id]
    if not changed:
        return
    broke = codes_broken({session.pk: fields.breaks(session)}).get(session.pk, {})
    if broke and not force:
        raise WouldBreakCodes(broke, sessions=[mapping.external_id])
    action = session_action(session, fields)
    for name in changed.keys() - {"course"}:
        setattr(session, name, getattr(fields, name))
    if moved:
        session.course_id, mapping.course = course.course_id, course
        mapping.save(update_fields=["course"])
    session.save(update_fields=[name if name != "course" else "course_id" for name in changed])
    detail: dict[str, Any] = session_change_detail(mapping, changed, broke)
    audit_record(action=action, actor=actor, **detail)


def session_action(session: CourseSession, fields: SessionFields) -> str:
    archives = session.state != ARCHIVED and fields.state == ARCHIVED
    return AuditEvent.Action.SESSION_ARCHIVED if archives else AuditEvent.Action.SESSION_CHANGED


def session_change_detail(
    mapping: PlatformSession, changed: dict[str, list[object]], broke: dict[str, int]
) -> dict[str, object]:
    """What the audit row of a session's change says: which session, what changed, and for a
    forced change the live codes it left unusable."""
    detail: dict[str, object] = {
        "platform_id": mapping.platform_id, "course": mapping.course.external_id, "session": mapping.external_id,
        "slug": mapping.session.slug, "changed": changed,
    }  # fmt: skip
    if broke:
        detail.update(forced=True, broke=broke)
    return detail


def archived_by_its_platform(session: CourseSession) -> str | None:
    """Registered with tessera.vouchers.availability: a platform archives a session to withdraw
    it, so no code of any product can be redeemed on it. (Tessera's own archived sessions keep
    their product rules: an ended session is archived and may still be reactivated.)"""
    if session.state != ARCHIVED or session.source != PLATFORM:
        return None
    return "This course session has been withdrawn: its codes can no longer be redeemed."
