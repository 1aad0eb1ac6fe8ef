"""Offers and batches of codes for a platform's own sessions, and their codes sent to recipients
by email (under /api/v1/platform, scope `catalog`), in the staff API's shapes where they fit.
Every lookup goes through the calling platform: another platform's offer, batch or assignment is
not found (404)."""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from tessera.api.schemas import ERRORS, ApiIn
from tessera.api.staff import (
    NOTHING_TO_SEND,
    AssignmentOut,
    BatchOut,
    BatchSpecIn,
    CodeRowOut,
    OfferFieldsIn,
    RemindIn,
    SendJobOut,
    StaffPages,
    WithdrawIn,
    WithdrawOut,
    recipients_of,
)
from tessera.platforms.auth import calling_platform
from tessera.platforms.catalog import MAX_EXTERNAL_ID
from tessera.platforms.offers import (
    PlatformRecipient,
    platform_assignments_create,
    platform_batch_create,
    platform_offer_create,
)
from tessera.platforms.selectors import platform_assignment, platform_batch, platform_offer, platform_offers
from tessera.vouchers.models import Assignment, Batch, Code, Offer, SendJob
from tessera.vouchers.selectors.assignments import batch_assignments
from tessera.vouchers.selectors.batches import batches_of
from tessera.vouchers.selectors.codes import batch_codes
from tessera.vouchers.services import (
    BatchSpec,
    assignment_resend,
    assignment_withdraw,
    assignments_remind,
    assignments_resend_failed,
)
from tessera.vouchers.services.assignments import MAX_RECIPIENTS
from tessera.web.cards import public_base

router = Router(tags=["course platforms: offers and codes"])


class PlatformOfferIn(OfferFieldsIn):
    session: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID, description="The platform's id of the session.")


class PlatformOfferOut(Schema):
    id: int
    name: str
    product: str
    session: str = Field(description="The platform's id of the session.")
    course: str = Field(description="The platform's id of the session's course.")
    price: Decimal
    currency: str
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    auto_subscribe: bool
    store_url: str
    created_at: datetime

    @staticmethod
    def resolve_session(offer: Offer) -> str:
        return offer.session.platform_session.external_id  # type: ignore[union-attr]  # platform_offers' rows

    @staticmethod
    def resolve_course(offer: Offer) -> str:
        return offer.session.platform_session.course.external_id  # type: ignore[union-attr]


@router.post("/offers", response={201: PlatformOfferOut, **ERRORS}, summary="Create an offer for one of your sessions")
def offers_create(request: HttpRequest, payload: PlatformOfferIn) -> Status[Offer]:
    platform = calling_platform(request, "catalog")
    offer = platform_offer_create(platform=platform, actor=platform.actor, **payload.dict())
    return Status(201, platform_offer(platform, offer.pk))


@router.get("/offers", response={200: list[PlatformOfferOut], **ERRORS}, summary="Your offers, newest first")
@paginate(StaffPages)
def offers_list(request: HttpRequest) -> QuerySet[Offer]:
    return platform_offers(calling_platform(request, "catalog"))


@router.get("/offers/{offer_id}", response={200: PlatformOfferOut, **ERRORS}, summary="One of your offers")
def offers_show(request: HttpRequest, offer_id: int) -> Offer:
    return platform_offer(calling_platform(request, "catalog"), offer_id)


@router.post("/offers/{offer_id}/batches", response={201: BatchOut, **ERRORS}, summary="Create a batch of codes")
def batches_create(request: HttpRequest, offer_id: int, payload: BatchSpecIn) -> Status[Batch]:
    platform = calling_platform(request, "catalog")
    spec = BatchSpec(**payload.dict())
    return Status(201, platform_batch_create(platform=platform, offer_id=offer_id, spec=spec, actor=platform.actor))


@router.get("/offers/{offer_id}/batches", response={200: list[BatchOut], **ERRORS}, summary="An offer's batches")
@paginate(StaffPages)
def batches_list(request: HttpRequest, offer_id: int) -> QuerySet[Batch]:
    return batches_of(platform_offer(calling_platform(request, "catalog"), offer_id))


@router.get("/batches/{batch_id}", response={200: BatchOut, **ERRORS}, summary="One of your batches")
def batches_show(request: HttpRequest, batch_id: int) -> Batch:
    return platform_batch(calling_platform(request, "catalog"), batch_id)


@router.get("/batches/{batch_id}/codes", response={200: list[CodeRowOut], **ERRORS},
            summary="A batch's codes, in code order")  # fmt: skip
@paginate(StaffPages)
def batches_codes(request: HttpRequest, batch_id: int) -> QuerySet[Code]:
    return batch_codes(platform_batch(calling_platform(request, "catalog"), batch_id))


# --- codes sent to recipients (docs/sending-codes.md) ---------------------------------------------


class PlatformRecipientIn(ApiIn):
    email: str = Field("", max_length=254, description="The recipient's address; or name a learner instead.")
    learner: str = Field(
        "", max_length=MAX_EXTERNAL_ID, description="Your id of a learner Tessera knows an address for."
    )
    name: str = Field("", max_length=200)
    language: str = Field("", max_length=16, description='e.g. "de"; empty: the default language.')


class PlatformAssignIn(ApiIn):
    recipients: list[PlatformRecipientIn] = Field(
        min_length=1, max_length=MAX_RECIPIENTS,
        description="One code each; an error names a recipient by its place in this list, from 1, as its line.",
    )  # fmt: skip


@router.post("/batches/{batch_id}/assignments", response={202: SendJobOut, **ERRORS},
             summary="Send a code of one of your batches to each recipient (all or nothing)")  # fmt: skip
def assignments_send(request: HttpRequest, batch_id: int, payload: PlatformAssignIn) -> Status[SendJob]:
    platform = calling_platform(request, "catalog")
    recipients = [
        PlatformRecipient(line=line, **recipient.dict()) for line, recipient in enumerate(payload.recipients, start=1)
    ]
    job = platform_assignments_create(
        platform=platform, batch_id=batch_id, recipients=recipients, actor=platform.actor,
        link_base=public_base(request),
    )  # fmt: skip
    return Status(202, job)


@router.get("/batches/{batch_id}/assignments", response={200: list[AssignmentOut], **ERRORS},
            summary="To whom your batch's codes were sent, newest first")  # fmt: skip
@paginate(StaffPages)
def assignments_list(request: HttpRequest, batch_id: int) -> QuerySet[Assignment]:
    return batch_assignments(platform_batch(calling_platform(request, "catalog"), batch_id))


@router.post("/batches/{batch_id}/assignments/resend-failed", response={202: SendJobOut, **NOTHING_TO_SEND, **ERRORS},
             summary="Send your batch's failed codes again (204: none failed)")  # fmt: skip
def assignments_resend(request: HttpRequest, batch_id: int) -> Status[SendJob | None]:
    platform = calling_platform(request, "catalog")
    batch = platform_batch(platform, batch_id)
    job = assignments_resend_failed(batch=batch, actor=platform.actor, link_base=public_base(request))
    return Status(202, job) if job else Status(204, None)


@router.post("/batches/{batch_id}/assignments/remind", response={202: SendJobOut, **NOTHING_TO_SEND, **ERRORS},
             summary="Remind those whose code is still unredeemed (204: nobody is due)")  # fmt: skip
def assignments_remind_route(request: HttpRequest, batch_id: int, payload: RemindIn) -> Status[SendJob | None]:
    platform = calling_platform(request, "catalog")
    batch = platform_batch(platform, batch_id)
    job = assignments_remind(batch=batch, days=payload.days, actor=platform.actor, link_base=public_base(request))
    return Status(202, job) if job else Status(204, None)


@router.post("/assignments/{assignment_id}/resend", response={202: SendJobOut, **ERRORS},
             summary="Send one assignment's code again")  # fmt: skip
def assignment_resend_route(request: HttpRequest, assignment_id: int) -> Status[SendJob]:
    platform = calling_platform(request, "catalog")
    assignment = platform_assignment(platform, assignment_id)
    return Status(202, assignment_resend(assignment=assignment, actor=platform.actor, link_base=public_base(request)))


@router.post("/assignments/{assignment_id}/withdraw", response={200: WithdrawOut, **ERRORS},
             summary="Withdraw an assignment (its code is revoked), optionally for another address")  # fmt: skip
def assignment_withdraw_route(
    request: HttpRequest, assignment_id: int, payload: WithdrawIn | None = None
) -> dict[str, object]:
    platform = calling_platform(request, "catalog")
    assignment = platform_assignment(platform, assignment_id)
    replacement = recipients_of([payload.replacement])[0] if payload and payload.replacement else None
    job = assignment_withdraw(
        assignment=assignment, actor=platform.actor, replacement=replacement, link_base=public_base(request)
    )
    return {"assignment": platform_assignment(platform, assignment_id), "job": job}
