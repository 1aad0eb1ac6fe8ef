"""The learner's side of the platform API: check a code, redeem it, list what I have.

Routes parse, call one service or selector, and shape the answer; refusals are rendered by
the API's one exception handler (tessera.api.v1): 404 not_found, 409 for any other refusal, 429
when the services' failed-attempt limits refuse (the routes pass the client's address).
"""

from datetime import datetime

from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Field, Router, Schema, Status

from tessera.api.auth import USER_AUTH, caller
from tessera.api.schemas import ERRORS, ApiIn, ErrorOut, ProductName
from tessera.catalog.models import Assessment, CourseSession
from tessera.catalog.selectors import assessment_by_slug, session_by_slug
from tessera.core.errors import InvalidInput
from tessera.core.ratelimit.keys import client_ip
from tessera.vouchers.selectors.codes import display_of
from tessera.vouchers.selectors.entitlements import entitlements_of, redemption_place
from tessera.vouchers.services import voucher_check, voucher_redeem

router = Router(auth=USER_AUTH, tags=["learner"])


class CodeIn(ApiIn):
    code: str = Field(min_length=1, max_length=100, description="As printed; case, spaces and dashes don't matter.")
    session: str | None = Field(
        None, min_length=1, max_length=50, description="The course session's slug (or give `assessment`)."
    )
    assessment: str | None = Field(
        None, min_length=1, max_length=50, description="The assessment's slug, for an assessment's code."
    )
    product: ProductName | None = Field(None, description="What the learner asked for; a code for another is refused.")

    def place(self) -> tuple[CourseSession | None, Assessment | None]:
        """The session or the assessment named: exactly one of the two (else 400 invalid_input)."""
        if (self.session is None) == (self.assessment is None):
            raise InvalidInput("Name either a course session or an assessment.", field="session")
        if self.session is not None:
            return session_by_slug(self.session), None
        return None, assessment_by_slug(self.assessment or "")


class PreviewOut(Schema):
    """A code's preview in a course session (the platform API's shape too)."""

    code: str
    product: str
    session: str
    course: str
    uses_left: int
    expires_at: datetime | None


SESSION_OR_NULL = "The course session's slug; null for an assessment's code."
COURSE_OR_NULL = "The session's course, or the assessment's (null if it stands alone)."
ASSESSMENT_OR_NULL = "The assessment's slug; null for a course session's code."


class CodePreviewOut(PreviewOut):
    """A code's preview in a course session or for an assessment."""

    session: str | None = Field(description=SESSION_OR_NULL)  # type: ignore[assignment]
    course: str | None = Field(description=COURSE_OR_NULL)  # type: ignore[assignment]
    assessment: str | None = Field(description=ASSESSMENT_OR_NULL)


class RedemptionOut(Schema):
    """A redemption in a course session (the platform API's shape too)."""

    id: int
    code: str
    product: str
    session: str
    course: str
    redeemed_at: datetime


class CodeRedemptionOut(RedemptionOut):
    """A redemption in a course session or for an assessment."""

    session: str | None = Field(description=SESSION_OR_NULL)  # type: ignore[assignment]
    course: str | None = Field(description=COURSE_OR_NULL)  # type: ignore[assignment]
    assessment: str | None = Field(description=ASSESSMENT_OR_NULL)


class CsrfOut(Schema):
    csrf_token: str


@router.get("/csrf", auth=None, response=CsrfOut, summary="A CSRF token (and cookie) for browser POSTs")
def csrf(request: HttpRequest) -> CsrfOut:
    """A front end with a session cookie sends this token back in X-CSRFToken on every POST."""
    return CsrfOut(csrf_token=get_token(request))


@router.post("/codes/check", response={200: CodePreviewOut, **ERRORS}, summary="What a code would unlock, unredeemed")
def code_check(request: HttpRequest, payload: CodeIn) -> CodePreviewOut:
    session, assessment = payload.place()
    preview = voucher_check(
        code=payload.code, user=caller(request), session=session, assessment=assessment, product=payload.product,
        client_ip=client_ip(request),
    )  # fmt: skip
    batch = preview.code.batch
    return CodePreviewOut(
        code=display_of(preview.code), product=preview.product, **_named(session, assessment),
        uses_left=preview.uses_left, expires_at=batch.expires_at,
    )  # fmt: skip


def _named(session: CourseSession | None, assessment: Assessment | None) -> dict[str, str | None]:
    """The place by slugs: the session and its course, or the assessment and its course (if any)."""
    if session is not None:
        return {"session": session.slug, "course": session.course.slug, "assessment": None}
    course = assessment.course if assessment is not None else None
    slug = assessment.slug if assessment is not None else None
    return {"session": None, "course": course.slug if course else None, "assessment": slug}


@router.post("/redemptions", response={201: CodeRedemptionOut, **ERRORS}, summary="Redeem a code for the caller")
def redemption_create(request: HttpRequest, payload: CodeIn) -> Status[CodeRedemptionOut]:
    session, assessment = payload.place()
    redemption = voucher_redeem(
        code=payload.code, user=caller(request), session=session, assessment=assessment, product=payload.product,
        client_ip=client_ip(request),
    )  # fmt: skip
    shaped = CodeRedemptionOut(
        id=redemption.pk, code=display_of(redemption.code), product=redemption.product,
        **_named(session, assessment),
        redeemed_at=redemption.redeemed_at,
    )  # fmt: skip
    return Status(201, shaped)


class EnrollmentOut(Schema):
    session: str
    course: str
    active: bool
    proctored: bool
    reactivated_until: datetime | None
    enrolled_at: datetime


class MyRedemptionOut(Schema):
    """A redemption in a course session (the platform API's shape too)."""

    id: int
    code: str
    product: str
    session: str
    redeemed_at: datetime
    reversed_at: datetime | None


class MyCodeRedemptionOut(MyRedemptionOut):
    """A redemption in a course session or for an assessment."""

    session: str | None = Field(description=SESSION_OR_NULL)  # type: ignore[assignment]
    assessment: str | None = Field(description=ASSESSMENT_OR_NULL)


class AssessmentEntitlementOut(Schema):
    assessment: str
    title: str
    course: str | None
    attempts: int = Field(description="Attempts granted, in total.")
    opens_at: datetime | None
    closes_at: datetime | None
    granted_at: datetime


class EntitlementsOut(Schema):
    enrollments: list[EnrollmentOut]
    assessments: list[AssessmentEntitlementOut]
    redemptions: list[MyCodeRedemptionOut]


@router.get("/me/entitlements", response={200: EntitlementsOut, 401: ErrorOut}, summary="What the caller has")
def my_entitlements(request: HttpRequest) -> EntitlementsOut:
    mine = entitlements_of(caller(request))
    return EntitlementsOut(
        enrollments=[
            EnrollmentOut(session=e.session.slug, course=e.session.course.slug, active=e.active, proctored=e.proctored,
                          reactivated_until=e.reactivated_until, enrolled_at=e.created_at)
            for e in mine.enrollments
        ],
        assessments=[
            AssessmentEntitlementOut(assessment=a.assessment.slug, title=a.assessment.title,
                                     course=a.assessment.course.slug if a.assessment.course else None,
                                     attempts=a.attempts, opens_at=a.assessment.opens_at,
                                     closes_at=a.assessment.closes_at, granted_at=a.created_at)
            for a in mine.assessments
        ],
        redemptions=[
            MyCodeRedemptionOut(id=r.pk, code=display_of(r.code), product=r.product,
                            session=redemption_place(r)["session"], assessment=redemption_place(r)["assessment"],
                            redeemed_at=r.redeemed_at, reversed_at=r.reversed_at)
            for r in mine.redemptions
        ],
    )  # fmt: skip
