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
from tessera.catalog.selectors import session_by_slug
from tessera.core.ratelimit.keys import client_ip
from tessera.vouchers.selectors.codes import display_of
from tessera.vouchers.selectors.entitlements import entitlements_of
from tessera.vouchers.services import voucher_check, voucher_redeem

router = Router(auth=USER_AUTH, tags=["learner"])


class CodeIn(ApiIn):
    code: str = Field(min_length=1, max_length=100, description="As printed; case, spaces and dashes don't matter.")
    session: str = Field(min_length=1, max_length=50, description="The course session's slug.")
    product: ProductName | None = Field(None, description="What the learner asked for; a code for another is refused.")


class PreviewOut(Schema):
    code: str
    product: str
    session: str
    course: str
    uses_left: int
    expires_at: datetime | None


class RedemptionOut(Schema):
    id: int
    code: str
    product: str
    session: str
    course: str
    redeemed_at: datetime


class CsrfOut(Schema):
    csrf_token: str


@router.get("/csrf", auth=None, response=CsrfOut, summary="A CSRF token (and cookie) for browser POSTs")
def csrf(request: HttpRequest) -> CsrfOut:
    """A front end with a session cookie sends this token back in X-CSRFToken on every POST."""
    return CsrfOut(csrf_token=get_token(request))


@router.post("/codes/check", response={200: PreviewOut, **ERRORS}, summary="What a code would unlock, unredeemed")
def code_check(request: HttpRequest, payload: CodeIn) -> PreviewOut:
    session = session_by_slug(payload.session)
    preview = voucher_check(
        code=payload.code, user=caller(request), session=session, product=payload.product,
        client_ip=client_ip(request),
    )  # fmt: skip
    batch = preview.code.batch
    return PreviewOut(
        code=display_of(preview.code), product=preview.product, session=session.slug,
        course=session.course.slug, uses_left=preview.uses_left, expires_at=batch.expires_at,
    )  # fmt: skip


@router.post("/redemptions", response={201: RedemptionOut, **ERRORS}, summary="Redeem a code for the caller")
def redemption_create(request: HttpRequest, payload: CodeIn) -> Status[RedemptionOut]:
    session = session_by_slug(payload.session)
    redemption = voucher_redeem(
        code=payload.code, user=caller(request), session=session, product=payload.product,
        client_ip=client_ip(request),
    )  # fmt: skip
    shaped = RedemptionOut(
        id=redemption.pk, code=display_of(redemption.code),
        product=redemption.product, session=session.slug, course=session.course.slug,
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
    id: int
    code: str
    product: str
    session: str
    redeemed_at: datetime
    reversed_at: datetime | None


class EntitlementsOut(Schema):
    enrollments: list[EnrollmentOut]
    redemptions: list[MyRedemptionOut]


@router.get("/me/entitlements", response={200: EntitlementsOut, 401: ErrorOut}, summary="What the caller has")
def my_entitlements(request: HttpRequest) -> EntitlementsOut:
    mine = entitlements_of(caller(request))
    return EntitlementsOut(
        enrollments=[
            EnrollmentOut(session=e.session.slug, course=e.session.course.slug, active=e.active, proctored=e.proctored,
                          reactivated_until=e.reactivated_until, enrolled_at=e.created_at)
            for e in mine.enrollments
        ],
        redemptions=[
            MyRedemptionOut(id=r.pk, code=display_of(r.code), product=r.product,
                            session=r.session.slug, redeemed_at=r.redeemed_at, reversed_at=r.reversed_at)
            for r in mine.redemptions
        ],
    )  # fmt: skip
