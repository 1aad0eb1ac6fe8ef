"""The catalog routes of the platform API (under /api/v1/platform, scope `catalog`): a platform
upserts its courses and sessions by its own external ids, archives sessions, and imports many at
once. Routes check the scope, call one service or selector through the calling platform, and
shape the answer; another platform's ids are simply not found (404). See docs/platforms.md."""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from tessera.api.schemas import ERRORS, ApiIn, ErrorOut
from tessera.platforms.auth import calling_platform
from tessera.platforms.catalog import (
    MAX_CAPACITY,
    MAX_DESCRIPTION,
    MAX_EXTERNAL_ID,
    MAX_REACTIVATION_WEEKS,
    CourseFields,
    SessionFields,
    course_upsert,
    session_archive,
    session_upsert,
)
from tessera.platforms.catalog_import import MAX_ROWS, CourseRow, ImportCounts, SessionRow, catalog_import
from tessera.platforms.models import PlatformCourse, PlatformSession
from tessera.platforms.selectors import platform_course, platform_session

router = Router(tags=["course platforms: catalog"])

CourseId = Annotated[str, Path(description="The platform's own id of the course.")]
SessionId = Annotated[str, Path(description="The platform's own id of the session (unique among its sessions).")]
Force = Annotated[
    bool, Query(description="Make a change that would leave live codes unusable anyway (else 409 would_break_codes).")
]


# --- shapes -------------------------------------------------------------------------------------


class CourseIn(ApiIn):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=MAX_DESCRIPTION)

    def fields(self) -> CourseFields:
        return CourseFields(title=self.title, description=self.description)


class SessionIn(ApiIn):
    """A PUT replaces the session: a field left out takes its default."""

    title: str = Field("", max_length=200)
    starts_at: datetime
    ends_at: datetime
    enrollment_opens_at: datetime | None = Field(None, description="None: open from the start of time.")
    enrollment_closes_at: datetime | None = Field(None, description="None: open until the session ends.")
    capacity: int | None = Field(None, ge=0, le=MAX_CAPACITY, description="None: unlimited.")
    offers_proctored_certificate: bool = False
    reactivation_enabled: bool = False
    reactivation_weeks: int | None = Field(
        None, ge=1, le=MAX_REACTIVATION_WEEKS, description="None: Tessera's default (TESSERA_REACTIVATION_WEEKS)."
    )
    state: Literal["preparation", "active", "archived"] = "active"

    def fields(self) -> SessionFields:
        return SessionFields(**self.dict(include=set(SessionFields.__dataclass_fields__)))


class CourseOut(Schema):
    external_id: str
    slug: str = Field(description="Tessera's name for it: in its pages' addresses and the audit log.")
    title: str
    description: str

    @staticmethod
    def of(mapping: PlatformCourse) -> "CourseOut":
        course = mapping.course
        return CourseOut(external_id=mapping.external_id, slug=course.slug, title=course.title,
                         description=course.description)  # fmt: skip


class SessionOut(Schema):
    external_id: str
    course: str = Field(description="Its course's external id.")
    slug: str = Field(description="Tessera's name for it: in its pages' addresses and the audit log.")
    title: str
    starts_at: datetime
    ends_at: datetime
    enrollment_opens_at: datetime | None
    enrollment_closes_at: datetime | None
    capacity: int | None
    offers_proctored_certificate: bool
    reactivation_enabled: bool
    reactivation_weeks: int | None
    state: str

    @staticmethod
    def of(mapping: PlatformSession) -> "SessionOut":
        session = mapping.session
        values = {name: getattr(session, name) for name in SessionFields.__dataclass_fields__}
        return SessionOut(external_id=mapping.external_id, course=mapping.course.external_id, slug=session.slug,
                          **values)  # fmt: skip


class CourseRowIn(CourseIn):
    external_id: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID)


class SessionRowIn(SessionIn):
    external_id: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID)
    course: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID, description="Its course's external id.")


class CatalogIn(ApiIn):
    courses: list[CourseRowIn] = Field([], max_length=MAX_ROWS)
    sessions: list[SessionRowIn] = Field(
        [], max_length=MAX_ROWS, description="Each names its course: one in this import, or one the platform has."
    )


class CountsOut(Schema):
    created: int
    changed: int
    unchanged: int


class SessionCountsOut(CountsOut):
    archived: int = Field(description="Of those changed, how many this import archived.")


class ImportOut(Schema):
    courses: CountsOut
    sessions: SessionCountsOut

    @staticmethod
    def of(counts: ImportCounts) -> "ImportOut":
        return ImportOut(
            courses=CountsOut(created=counts.courses_created, changed=counts.courses_changed,
                              unchanged=counts.courses_unchanged),
            sessions=SessionCountsOut(created=counts.sessions_created, changed=counts.sessions_changed,
                                      unchanged=counts.sessions_unchanged, archived=counts.sessions_archived),
        )  # fmt: skip


# --- routes -------------------------------------------------------------------------------------


@router.put("/courses/{course_id}", response={200: CourseOut, 201: CourseOut, **ERRORS},
            summary="Create or update a course (201 created, 200 updated or unchanged)")  # fmt: skip
def course_put(request: HttpRequest, course_id: CourseId, payload: CourseIn) -> Status[CourseOut]:
    platform = calling_platform(request, "catalog")
    upserted = course_upsert(platform=platform, external_id=course_id, course=payload.fields(), actor=platform.actor)
    return Status(201 if upserted.created else 200, CourseOut.of(upserted.row))


@router.get("/courses/{course_id}", response={200: CourseOut, **ERRORS}, summary="One of the platform's courses")
def course_show(request: HttpRequest, course_id: CourseId) -> CourseOut:
    platform = calling_platform(request, "catalog")
    return CourseOut.of(platform_course(platform, course_id))


@router.put("/courses/{course_id}/sessions/{session_id}", response={200: SessionOut, 201: SessionOut, **ERRORS},
            summary="Create or update a session of a course (201 created, 200 updated or unchanged)")  # fmt: skip
def session_put(
    request: HttpRequest,
    course_id: CourseId,
    session_id: SessionId,
    payload: SessionIn,
    force: Force = False,
) -> Status[SessionOut]:
    platform = calling_platform(request, "catalog")
    upserted = session_upsert(platform=platform, course_external_id=course_id, external_id=session_id,
                              session=payload.fields(), force=force, actor=platform.actor)  # fmt: skip
    return Status(201 if upserted.created else 200, SessionOut.of(upserted.row))


@router.get("/courses/{course_id}/sessions/{session_id}", response={200: SessionOut, **ERRORS},
            summary="One of the platform's sessions")  # fmt: skip
def session_show(request: HttpRequest, course_id: CourseId, session_id: SessionId) -> SessionOut:
    platform = calling_platform(request, "catalog")
    return SessionOut.of(platform_session(platform, course_id, session_id))


@router.delete("/courses/{course_id}/sessions/{session_id}", response={200: SessionOut, **ERRORS},
               summary="Archive a session: its codes stay queryable, none can be redeemed")  # fmt: skip
def session_delete(
    request: HttpRequest, course_id: CourseId, session_id: SessionId, force: Force = False
) -> SessionOut:
    platform = calling_platform(request, "catalog")
    archived = session_archive(platform=platform, course_external_id=course_id, external_id=session_id, force=force,
                               actor=platform.actor)  # fmt: skip
    return SessionOut.of(archived)


@router.post("/catalog:import", response={200: ImportOut, 413: ErrorOut, **ERRORS},
             summary="Create or update many courses and sessions at once, all or nothing")  # fmt: skip
def catalog_import_post(request: HttpRequest, payload: CatalogIn, force: Force = False) -> ImportOut:
    platform = calling_platform(request, "catalog")
    courses = [CourseRow(external_id=row.external_id, course=row.fields()) for row in payload.courses]
    sessions = [SessionRow(external_id=row.external_id, course=row.course, session=row.fields())
                for row in payload.sessions]  # fmt: skip
    counts = catalog_import(platform=platform, courses=courses, sessions=sessions, force=force, actor=platform.actor)
    return ImportOut.of(counts)
