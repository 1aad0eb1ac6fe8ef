"""A platform's learners on the platform API (mounted at /api/v1/platform): checking and redeeming
codes on a learner's behalf (scope redeem), what a learner holds (scope entitlements), and who
redeemed one of the platform's codes, when and where (scope catalog).

The shapes are the learner API's (tessera.api.learner), with the platform's own names: a session
and course by their external ids, a learner by the platform's id. Refusals are the learner API's
too, rendered by /api/v1's one error path (tessera.api.v1).
"""

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from tessera.api.learner import EnrollmentOut, MyRedemptionOut, PreviewOut, RedemptionOut
from tessera.api.schemas import ERRORS, ApiIn, ProductName
from tessera.platforms.auth import PLATFORM_AUTH, calling_platform
from tessera.platforms.learner_selectors import LearnerEntitlements, learner_entitlements, platform_code_details
from tessera.platforms.learners import LearnerAttempt, platform_code_check, platform_code_redeem
from tessera.vouchers.selectors.codes import display_of

router = Router(tags=["course platforms"], auth=PLATFORM_AUTH)


class LearnerCodeIn(ApiIn):
    learner: str = Field(
        min_length=1, max_length=255, description="The platform's id of its learner; Tessera creates it on first use."
    )
    code: str = Field(min_length=1, max_length=100, description="As printed; case, spaces and dashes don't matter.")
    session: str = Field(min_length=1, max_length=255, description="The external id of one of the platform's sessions.")
    product: ProductName | None = Field(None, description="What the learner asked for; a code for another is refused.")
    client_ip: str | None = Field(
        None, max_length=64,
        description="The learner's IPv4 or IPv6 address as the platform saw it; rate limits count it (never the "
        "platform's own address). Without it the learner alone is counted.",
    )  # fmt: skip

    def attempt(self) -> LearnerAttempt:
        return LearnerAttempt(
            learner=self.learner, code=self.code, session=self.session, product=self.product, client_ip=self.client_ip
        )


class LearnerPreviewOut(PreviewOut):
    """What the code would unlock; `session` and `course` are the platform's external ids."""


class EffectOut(Schema):
    """The learner's enrollment in the session once the code is redeemed."""

    active: bool
    proctored: bool
    reactivated_until: datetime | None


class LearnerRedemptionOut(RedemptionOut):
    """`session` and `course` are the platform's external ids, `learner` the platform's id."""

    learner: str
    effect: EffectOut | None


class LearnerEntitlementsOut(Schema):
    """In the platform's sessions only, named by their external ids."""

    learner: str
    enrollments: list[EnrollmentOut]
    redemptions: list[MyRedemptionOut]


@router.post(
    "/codes/check", response={200: LearnerPreviewOut, **ERRORS}, summary="What a code would unlock for a learner"
)
def learner_code_check(request: HttpRequest, payload: LearnerCodeIn) -> LearnerPreviewOut:
    platform = calling_platform(request, "redeem")
    checked = platform_code_check(platform=platform, attempt=payload.attempt())
    preview, names = checked.preview, checked.session
    batch = preview.code.batch
    return LearnerPreviewOut(
        code=display_of(preview.code), product=preview.product, session=names.external_id,
        course=names.course.external_id, uses_left=preview.uses_left, expires_at=batch.expires_at,
    )  # fmt: skip


@router.post("/redemptions", response={201: LearnerRedemptionOut, **ERRORS}, summary="Redeem a code for a learner")
def learner_redemption_create(request: HttpRequest, payload: LearnerCodeIn) -> Status[LearnerRedemptionOut]:
    platform = calling_platform(request, "redeem")
    redeemed = platform_code_redeem(platform=platform, attempt=payload.attempt())
    redemption, names, enrollment = redeemed.redemption, redeemed.session, redeemed.enrollment
    effect = None
    if enrollment is not None:
        effect = EffectOut(
            active=enrollment.active, proctored=enrollment.proctored, reactivated_until=enrollment.reactivated_until
        )
    shaped = LearnerRedemptionOut(
        id=redemption.pk, code=display_of(redemption.code),
        product=redemption.product, session=names.external_id, course=names.course.external_id,
        redeemed_at=redemption.redeemed_at, learner=redeemed.learner, effect=effect,
    )  # fmt: skip
    return Status(201, shaped)


@router.get(
    "/learners/{path:learner}/entitlements", response={200: LearnerEntitlementsOut, **ERRORS},
    summary="What a learner holds in the platform's sessions",
)  # fmt: skip
def learner_entitlements_list(request: HttpRequest, learner: str) -> LearnerEntitlementsOut:
    """A learner the platform has not used yet holds nothing: an empty answer, and no learner is
    created by asking."""
    platform = calling_platform(request, "entitlements")
    return _entitlements_shaped(learner, learner_entitlements(platform, learner))


def _entitlements_shaped(learner: str, held: LearnerEntitlements) -> LearnerEntitlementsOut:
    names = held.names
    return LearnerEntitlementsOut(
        learner=learner,
        enrollments=[
            EnrollmentOut(session=names[e.session_id].session, course=names[e.session_id].course, active=e.active,
                          proctored=e.proctored, reactivated_until=e.reactivated_until, enrolled_at=e.created_at)
            for e in held.enrollments
        ],
        redemptions=[
            MyRedemptionOut(id=r.pk, code=display_of(r.code), product=r.product,
                            session=names[r.session_id].session, redeemed_at=r.redeemed_at, reversed_at=r.reversed_at)
            for r in held.redemptions
            if r.session_id is not None  # always: only the platform's sessions were asked for
        ],
    )  # fmt: skip


class CodeRedemptionOut(Schema):
    id: int
    learner: str | None = Field(description="The platform's learner id; null for anyone not one of its learners.")
    session: str
    redeemed_at: datetime
    reversed_at: datetime | None


class PlatformCodeOut(Schema):
    """`session` and `course` are the platform's external ids of the code's offer's session."""

    code: str
    status: str = Field(description="unused, partly_redeemed, redeemed, expired or revoked")
    product: str
    session: str
    course: str
    uses: int
    max_uses: int
    expires_at: datetime | None
    revoked_at: datetime | None
    redemptions: list[CodeRedemptionOut]


@router.get(
    "/codes/{code}", response={200: PlatformCodeOut, **ERRORS}, summary="One of the platform's codes: who, when, where"
)
def platform_code_show(request: HttpRequest, code: str) -> PlatformCodeOut:
    """A code of an offer for one of the platform's sessions; any other code is 404 not_found."""
    platform = calling_platform(request, "catalog")
    found = platform_code_details(platform, code)
    details, names = found.details, found.session
    row, batch = details.code, details.code.batch
    return PlatformCodeOut(
        code=details.display, status=details.status, product=batch.offer.product, session=names.session,
        course=names.course, uses=row.uses, max_uses=row.max_uses, expires_at=batch.expires_at,
        revoked_at=row.revoked_at or batch.revoked_at,
        redemptions=[
            CodeRedemptionOut(id=r.pk, learner=found.learners.get(r.user_id), session=names.session,
                              redeemed_at=r.redeemed_at, reversed_at=r.reversed_at)
            for r in details.redemptions
        ],
    )  # fmt: skip
