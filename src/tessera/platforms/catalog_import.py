"""Many courses and sessions of a platform at once, all or nothing: the same rules as one upsert
(tessera.platforms.catalog), in set-based statements, so ten thousand sessions take seconds.

Every row is checked before anything is read; then the platform's existing rows are read in a few
queries, the differences worked out, the changes that would break codes refused (unless forced),
and only then written: new rows with bulk INSERTs, changed rows with INSERT ... ON CONFLICT (id)
DO UPDATE (bulk_create with update_conflicts), one audit row per course or session created or
changed (bulk_create too) and one for the import with its counts. Unchanged rows are not written,
so the same import twice changes nothing and logs nothing the second time.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TypeVar

from django.utils import timezone

from tessera.catalog.models import Course, CourseSession
from tessera.core.errors import InvalidInput
from tessera.platforms.catalog import (
    PLATFORM,
    CourseFields,
    SessionFields,
    catalog_id_checked,
    catalog_locked,
    changes,
    codes_broken,
    free_slugs,
    retried,
    session_action,
    session_change_detail,
)
from tessera.platforms.errors import WouldBreakCodes
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession
from tessera.platforms.selectors import courses_by_external_id, sessions_by_external_id
from tessera.vouchers.models import AuditEvent

MAX_ROWS = 10_000  # courses, and sessions, per import
BATCH = 1000  # rows per INSERT (Django lowers it to what SQLite's parameter limit allows)
SESSION_COLUMNS = [field.name for field in fields(SessionFields)]
Row = TypeVar("Row", "CourseRow", "SessionRow")


@dataclass(frozen=True)
class CourseRow:
    external_id: str
    course: CourseFields


@dataclass(frozen=True)
class SessionRow:
    external_id: str
    course: str  # the external id of its course: in this import, or one the platform has already
    session: SessionFields


@dataclass
class ImportCounts:
    courses_created: int = 0
    courses_changed: int = 0
    courses_unchanged: int = 0
    sessions_created: int = 0
    sessions_changed: int = 0
    sessions_unchanged: int = 0
    sessions_archived: int = 0  # of those changed

    @property
    def changed_anything(self) -> bool:
        return any((self.courses_created, self.courses_changed, self.sessions_created, self.sessions_changed))


@dataclass
class Plan:
    """What an import will write, worked out from the rows and what the platform has."""

    courses: dict[str, PlatformCourse]  # every course the sessions may name, by external id
    new_courses: list[CourseRow]
    changed_courses: list[tuple[PlatformCourse, dict[str, list[object]]]]
    new_sessions: list[SessionRow]
    changed_sessions: list[tuple[PlatformSession, SessionRow, dict[str, list[object]]]]
    broke: dict[int, dict[str, int]]  # by CourseSession id, what a forced change breaks
    counts: ImportCounts


def catalog_import(
    *,
    platform: Platform,
    courses: Sequence[CourseRow],
    sessions: Sequence[SessionRow],
    force: bool = False,
    actor: str,
) -> ImportCounts:
    """Upserts every row, or nothing: a bad row is InvalidInput naming its place ("sessions[3].ends_at"),
    a change that would break live codes WouldBreakCodes (unless `force`)."""
    courses = _rows_checked("courses", courses, _course_row_checked)
    sessions = _rows_checked("sessions", sessions, _session_row_checked)
    return retried(lambda: _import(platform, courses, sessions, force, actor))


def _rows_checked(kind: str, rows: Sequence[Row], check: Callable[[Row], Row]) -> list[Row]:
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"An import has at most {MAX_ROWS:,} {kind}.", field=kind)
    seen: set[str] = set()
    checked = []
    for index, row in enumerate(rows):
        try:
            row = check(row)
        except InvalidInput as error:
            raise InvalidInput(f"{kind}[{index}]: {error.message}", field=f"{kind}[{index}].{error.field}") from None
        if row.external_id in seen:
            message = f"{kind}[{index}]: {row.external_id!r} comes twice in this import."
            raise InvalidInput(message, field=f"{kind}[{index}].external_id")
        seen.add(row.external_id)
        checked.append(row)
    return checked


def _course_row_checked(row: CourseRow) -> CourseRow:
    return CourseRow(external_id=catalog_id_checked(row.external_id), course=row.course.checked())


def _session_row_checked(row: SessionRow) -> SessionRow:
    return SessionRow(
        external_id=catalog_id_checked(row.external_id), course=catalog_id_checked(row.course, "course"),
        session=row.session.checked(),
    )  # fmt: skip


def _import(
    platform: Platform, courses: list[CourseRow], sessions: list[SessionRow], force: bool, actor: str
) -> ImportCounts:
    with catalog_locked(platform):
        plan = _plan(platform, courses, sessions, force)
        now = timezone.now()
        audit = _write_courses(platform, plan, actor) + _write_sessions(platform, plan, actor)
        if plan.counts.changed_anything:
            summary = {"platform_id": platform.pk, **asdict(plan.counts)}
            audit.append(AuditEvent(actor=actor, action=AuditEvent.Action.CATALOG_IMPORTED, detail=summary))
            for event in audit:
                event.at = now
            AuditEvent.objects.bulk_create(audit, batch_size=BATCH)
    return plan.counts


# --- working out what changes ---------------------------------------------------------------------


def _plan(platform: Platform, courses: list[CourseRow], sessions: list[SessionRow], force: bool) -> Plan:
    known = courses_by_external_id(platform, [row.external_id for row in courses] + [row.course for row in sessions])
    importing = {row.external_id for row in courses}
    for index, row in enumerate(sessions):
        if row.course not in known and row.course not in importing:
            message = f"sessions[{index}]: there is no course {row.course!r}, here or in this import."
            raise InvalidInput(message, field=f"sessions[{index}].course")
    plan = Plan(courses=known, new_courses=[], changed_courses=[], new_sessions=[], changed_sessions=[], broke={},
                counts=ImportCounts())  # fmt: skip
    _plan_courses(plan, courses)
    _plan_sessions(plan, sessions, sessions_by_external_id(platform, [row.external_id for row in sessions]))
    breaking = {mapping.session_id: row.session.breaks(mapping.session) for mapping, row, _ in plan.changed_sessions}
    plan.broke = codes_broken(breaking)
    if plan.broke and not force:
        by_session = {mapping.session_id: mapping.external_id for mapping, _, _ in plan.changed_sessions}
        total: Counter[str] = Counter()
        for counts in plan.broke.values():
            total.update(counts)
        raise WouldBreakCodes(dict(total), sessions=sorted(by_session[session_id] for session_id in plan.broke))
    return plan


def _plan_courses(plan: Plan, courses: list[CourseRow]) -> None:
    for row in courses:
        mapping = plan.courses.get(row.external_id)
        if mapping is None:
            plan.new_courses.append(row)
        elif changed := changes(mapping.course, row.course.values()):
            plan.changed_courses.append((mapping, changed))
            for name in changed:
                setattr(mapping.course, name, getattr(row.course, name))
        else:
            plan.counts.courses_unchanged += 1
    plan.counts.courses_created, plan.counts.courses_changed = len(plan.new_courses), len(plan.changed_courses)


def _plan_sessions(plan: Plan, sessions: list[SessionRow], known: dict[str, PlatformSession]) -> None:
    for row in sessions:
        mapping = known.get(row.external_id)
        if mapping is None:
            plan.new_sessions.append(row)
            continue
        changed = changes(mapping.session, row.session.values())
        if mapping.course.external_id != row.course:
            changed["course"] = [mapping.course.external_id, row.course]
        if changed:
            plan.changed_sessions.append((mapping, row, changed))
            plan.counts.sessions_archived += session_action(mapping.session, row.session) == "session_archived"
        else:
            plan.counts.sessions_unchanged += 1
    plan.counts.sessions_created, plan.counts.sessions_changed = len(plan.new_sessions), len(plan.changed_sessions)


# --- writing it ---------------------------------------------------------------------------------


def _write_courses(platform: Platform, plan: Plan, actor: str) -> list[AuditEvent]:
    slugs = free_slugs(Course, platform, [row.external_id for row in plan.new_courses], "courses")
    created = Course.objects.bulk_create(
        [Course(slug=slug, **row.course.values()) for slug, row in zip(slugs, plan.new_courses, strict=True)],
        batch_size=BATCH,
    )
    mappings = PlatformCourse.objects.bulk_create(
        [PlatformCourse(platform=platform, external_id=row.external_id, course=course)
         for row, course in zip(plan.new_courses, created, strict=True)],
        batch_size=BATCH,
    )  # fmt: skip
    plan.courses.update((mapping.external_id, mapping) for mapping in mappings)
    changed = [mapping.course for mapping, _ in plan.changed_courses]
    Course.objects.bulk_create(changed, batch_size=BATCH, update_conflicts=True, unique_fields=["id"],
                               update_fields=["title", "description"])  # fmt: skip
    audit = [
        _event(actor, AuditEvent.Action.COURSE_CREATED, platform_id=platform.pk, course=mapping.external_id,
               slug=mapping.course.slug)
        for mapping in mappings
    ]  # fmt: skip
    audit += [
        _event(actor, AuditEvent.Action.COURSE_CHANGED, platform_id=platform.pk, course=mapping.external_id,
               changed=changed)
        for mapping, changed in plan.changed_courses
    ]  # fmt: skip
    return audit


def _write_sessions(platform: Platform, plan: Plan, actor: str) -> list[AuditEvent]:
    slugs = free_slugs(CourseSession, platform, [row.external_id for row in plan.new_sessions], "sessions")
    created = CourseSession.objects.bulk_create(
        [CourseSession(course_id=plan.courses[row.course].course_id, slug=slug, source=PLATFORM, **row.session.values())
         for slug, row in zip(slugs, plan.new_sessions, strict=True)],
        batch_size=BATCH,
    )  # fmt: skip
    mappings = PlatformSession.objects.bulk_create(
        [PlatformSession(platform=platform, external_id=row.external_id, course=plan.courses[row.course],
                         session=session)
         for row, session in zip(plan.new_sessions, created, strict=True)],
        batch_size=BATCH,
    )  # fmt: skip
    audit = [
        _event(actor, AuditEvent.Action.SESSION_CREATED, platform_id=platform.pk, course=mapping.course.external_id,
               session=mapping.external_id, slug=mapping.session.slug)
        for mapping in mappings
    ]  # fmt: skip
    return audit + _write_session_changes(plan, actor)


def _write_session_changes(plan: Plan, actor: str) -> list[AuditEvent]:
    audit, moved = [], []
    for mapping, row, changed in plan.changed_sessions:
        session = mapping.session
        action = session_action(session, row.session)
        for name in SESSION_COLUMNS:
            setattr(session, name, getattr(row.session, name))
        if "course" in changed:
            mapping.course = plan.courses[row.course]
            session.course_id = mapping.course.course_id
            moved.append(mapping)
        detail = session_change_detail(mapping, changed, plan.broke.get(session.pk, {}))
        audit.append(_event(actor, action, **detail))
    CourseSession.objects.bulk_create(
        [mapping.session for mapping, _, _ in plan.changed_sessions], batch_size=BATCH, update_conflicts=True,
        unique_fields=["id"], update_fields=["course", *SESSION_COLUMNS],
    )  # fmt: skip
    PlatformSession.objects.bulk_create(moved, batch_size=BATCH, update_conflicts=True, unique_fields=["id"],
                                        update_fields=["course"])  # fmt: skip
    return audit


def _event(actor: str, action: str, **detail: object) -> AuditEvent:
    return AuditEvent(actor=actor[:150], action=action, detail=detail)
