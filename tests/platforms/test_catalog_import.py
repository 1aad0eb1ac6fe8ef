"""Importing many courses and sessions at once: all or nothing, idempotent, audited per change,
the same rules as one upsert."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tessera.catalog.models import Course, CourseSession
from tessera.core.errors import InvalidInput
from tessera.platforms import catalog_import as importing
from tessera.platforms.catalog import CourseFields, SessionFields, course_upsert, session_upsert
from tessera.platforms.catalog_import import CourseRow, ImportCounts, SessionRow, catalog_import
from tessera.platforms.errors import WouldBreakCodes
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession
from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent, Batch, Offer, Product
from tests.auditing import audited

pytestmark = pytest.mark.django_db
ACTOR = "platform:test"


@pytest.fixture
def a(platform_a: Credentials) -> Platform:
    return platform_a.platform


@pytest.fixture
def b(platform_b: Credentials) -> Platform:
    return platform_b.platform


def fields(now: datetime, **changes: object) -> SessionFields:
    base = SessionFields(title="Run", starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7),
                         reactivation_enabled=True)  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def catalog(now: datetime, sessions: int = 3, **changes: object) -> tuple[list[CourseRow], list[SessionRow]]:
    """Two courses; sessions s0, s1, ... alternating between them."""
    courses = [CourseRow("c0", CourseFields("Course 0")), CourseRow("c1", CourseFields("Course 1", "About 1"))]
    rows = [SessionRow(f"s{n}", f"c{n % 2}", fields(now, **{"title": f"Run {n}", **changes})) for n in range(sessions)]
    return courses, rows


def run(platform: Platform, courses: list[CourseRow], sessions: list[SessionRow], **kw: object) -> ImportCounts:
    return catalog_import(platform=platform, courses=courses, sessions=sessions, actor=ACTOR, **kw)  # type: ignore[arg-type]


def test_an_import_creates_every_course_and_session_and_audits_each_and_itself(a: Platform, now: datetime) -> None:
    courses, sessions = catalog(now)
    with audited() as rows:
        counts = run(a, courses, sessions)
    assert counts == ImportCounts(courses_created=2, sessions_created=3)
    assert {s.slug: (s.title, s.course.slug) for s in CourseSession.objects.all()} == {
        "moodle-a-s0": ("Run 0", "moodle-a-c0"), "moodle-a-s1": ("Run 1", "moodle-a-c1"),
        "moodle-a-s2": ("Run 2", "moodle-a-c0"),
    }  # fmt: skip
    assert Course.objects.get(slug="moodle-a-c1").description == "About 1"
    assert set(CourseSession.objects.values_list("source", flat=True)) == {CourseSession.Source.PLATFORM}
    assert [(row.action, row.detail.get("session") or row.detail.get("course")) for row in rows] == [
        ("course_created", "c0"), ("course_created", "c1"),
        ("session_created", "s0"), ("session_created", "s1"), ("session_created", "s2"), ("catalog_imported", None),
    ]  # fmt: skip
    assert rows[-1].detail["sessions_created"] == 3
    assert len({row.at for row in rows}) == 1


def test_the_same_import_again_changes_nothing_and_logs_nothing(a: Platform, now: datetime) -> None:
    courses, sessions = catalog(now)
    run(a, courses, sessions)
    before = [SessionFields.of(session) for session in CourseSession.objects.order_by("pk")]
    with audited() as rows:
        counts = run(a, courses, sessions)
    assert counts == ImportCounts(courses_unchanged=2, sessions_unchanged=3)
    assert rows == []
    assert [SessionFields.of(session) for session in CourseSession.objects.order_by("pk")] == before


def test_changed_rows_are_written_and_each_change_audited(a: Platform, now: datetime) -> None:
    courses, sessions = catalog(now)
    run(a, courses, sessions)
    courses[0] = CourseRow("c0", CourseFields("Course zero"))
    sessions[1] = SessionRow("s1", "c0", replace(sessions[1].session, capacity=10))  # moved to c0 too
    sessions[2] = SessionRow("s2", "c0", replace(sessions[2].session, state="archived"))
    with audited() as rows:
        counts = run(a, courses, sessions)
    assert counts == ImportCounts(courses_changed=1, courses_unchanged=1, sessions_changed=2, sessions_unchanged=1,
                                  sessions_archived=1)  # fmt: skip
    moved = PlatformSession.objects.select_related("session__course", "course").get(external_id="s1")
    assert (moved.session.capacity, moved.session.course.slug, moved.course.external_id) == (10, "moodle-a-c0", "c0")
    assert CourseSession.objects.get(slug="moodle-a-s2").state == "archived"
    assert Course.objects.get(slug="moodle-a-c0").title == "Course zero"
    assert [(row.action, row.detail.get("changed")) for row in rows] == [
        ("course_changed", {"title": ["Course 0", "Course zero"]}),
        ("session_changed", {"capacity": [None, 10], "course": ["c1", "c0"]}),
        ("session_archived", {"state": ["active", "archived"]}),
        ("catalog_imported", None),
    ]


def test_sessions_may_name_a_course_the_platform_already_has(a: Platform, now: datetime) -> None:
    course_upsert(platform=a, external_id="old", course=CourseFields("Old"), actor=ACTOR)
    run(a, [], [SessionRow("s", "old", fields(now))])
    assert CourseSession.objects.get().course.slug == "moodle-a-old"


def test_an_import_gives_the_same_rows_as_one_upsert_at_a_time(a: Platform, b: Platform, now: datetime) -> None:
    courses, sessions = catalog(now, capacity=5, reactivation_weeks=3, offers_proctored_certificate=True)
    run(a, courses, sessions)
    for row in courses:
        course_upsert(platform=b, external_id=row.external_id, course=row.course, actor=ACTOR)
    for row in sessions:
        session_upsert(platform=b, course_external_id=row.course, external_id=row.external_id, session=row.session,
                       actor=ACTOR)  # fmt: skip
    for platform in (a, b):
        stored = PlatformSession.objects.filter(platform=platform).select_related("session").order_by("external_id")
        assert [SessionFields.of(mapping.session) for mapping in stored] == [row.session for row in sessions]


def altered(row: SessionRow, **changes: object) -> SessionRow:
    """The row with some of its own fields (external_id, course) or its session's changed."""
    own = {name: value for name, value in changes.items() if name in ("external_id", "course")}
    session = replace(row.session, **{name: value for name, value in changes.items() if name not in own})  # type: ignore[arg-type]
    return replace(row, session=session, **own)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "changes", "field"),
    [(2, {"ends_at": datetime(2000, 1, 1, tzinfo=UTC)}, "sessions[2].ends_at"),
     (1, {"course": "nope"}, "sessions[1].course"),
     (1, {"external_id": "s0"}, "sessions[1].external_id"),
     (0, {"external_id": ""}, "sessions[0].external_id"),
     (0, {"state": "deleted"}, "sessions[0].state")],
)  # fmt: skip
def test_a_bad_row_is_refused_by_its_place_and_nothing_is_written(
    a: Platform, now: datetime, index: int, changes: dict[str, object], field: str
) -> None:
    courses, sessions = catalog(now)
    sessions[index] = altered(sessions[index], **changes)
    with audited() as rows, pytest.raises(InvalidInput) as refused:
        run(a, courses, sessions)
    assert refused.value.field == field
    assert not Course.objects.exists()
    assert not CourseSession.objects.exists()
    assert rows == []


def test_a_bad_course_row_is_refused_by_its_place(a: Platform, now: datetime) -> None:
    courses, sessions = catalog(now)
    courses[1] = CourseRow("c1", CourseFields(" "))
    with pytest.raises(InvalidInput) as refused:
        run(a, courses, sessions)
    assert refused.value.field == "courses[1].title"


def test_an_import_has_at_most_so_many_rows(a: Platform, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    with pytest.raises(InvalidInput) as refused:
        run(a, *catalog(now, sessions=3))
    assert refused.value.field == "sessions"


class TestBreakingCodes:
    @pytest.fixture
    def imported(
        self, a: Platform, now: datetime, make_offer: Callable[..., Offer], make_batch: Callable[..., Batch]
    ) -> tuple[list[CourseRow], list[SessionRow]]:
        """s0 and s1 with 2 live reactivation codes each; s2 with none."""
        courses, sessions = catalog(now)
        run(a, courses, sessions)
        for external_id in ("s0", "s1"):
            session = PlatformSession.objects.get(external_id=external_id).session
            make_batch(make_offer(Product.REACTIVATION, session), count=2)
        return courses, sessions

    def test_an_import_that_would_break_codes_is_refused_whole(
        self, a: Platform, imported: tuple[list[CourseRow], list[SessionRow]]
    ) -> None:
        courses, sessions = imported
        off = [replace(row, session=replace(row.session, reactivation_enabled=False, title="New")) for row in sessions]
        with audited() as rows, pytest.raises(WouldBreakCodes) as refused:
            run(a, courses, off)
        assert refused.value.would_break == {"reactivation": 4}
        assert refused.value.sessions == ["s0", "s1"]
        assert not CourseSession.objects.filter(title="New").exists()
        assert rows == []

    def test_forced_it_is_written_and_each_session_audited_with_what_it_broke(
        self, a: Platform, imported: tuple[list[CourseRow], list[SessionRow]]
    ) -> None:
        courses, sessions = imported
        off = [replace(row, session=replace(row.session, reactivation_enabled=False)) for row in sessions]
        with audited() as rows:
            run(a, courses, off, force=True)
        assert not CourseSession.objects.filter(reactivation_enabled=True).exists()
        assert [(row.detail["session"], row.detail.get("broke")) for row in rows[:-1]] == [
            ("s0", {"reactivation": 2}), ("s1", {"reactivation": 2}), ("s2", None),
        ]  # fmt: skip


def test_two_platforms_import_the_same_ids_into_separate_rows(a: Platform, b: Platform, now: datetime) -> None:
    run(a, *catalog(now))
    run(b, *catalog(now, title="B"))
    assert PlatformCourse.objects.count() == 4
    assert set(CourseSession.objects.filter(slug__startswith="edx-b-").values_list("title", flat=True)) == {"B"}
    assert set(CourseSession.objects.filter(slug__startswith="moodle-a-").values_list("title", flat=True)) == {
        "Run 0", "Run 1", "Run 2",
    }  # fmt: skip


def test_ids_with_the_same_slug_in_one_import_get_different_slugs(a: Platform, now: datetime) -> None:
    courses = [CourseRow("Python 101", CourseFields("P")), CourseRow("python-101", CourseFields("p"))]
    run(a, courses, [])
    slugs = list(Course.objects.order_by("pk").values_list("slug", flat=True))
    assert slugs[0] == "moodle-a-python-101"
    assert slugs[1].startswith("moodle-a-python-101-")


def test_an_empty_import_changes_nothing(a: Platform) -> None:
    with audited() as rows:
        assert run(a, [], []) == ImportCounts()
    assert rows == []
    assert not AuditEvent.objects.filter(action="catalog_imported").exists()
