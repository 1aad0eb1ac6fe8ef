"""Offers and batches of codes for a platform's own sessions (under /api/v1/platform, scope
`catalog`), in the staff API's shapes where they fit. Every lookup goes through the calling
platform: another platform's offer or batch is not found (404)."""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from tessera.api.schemas import ERRORS
from tessera.api.staff import BatchOut, BatchSpecIn, CodeRowOut, OfferFieldsIn, StaffPages
from tessera.platforms.auth import calling_platform
from tessera.platforms.catalog import MAX_EXTERNAL_ID
from tessera.platforms.offers import platform_batch_create, platform_offer_create
from tessera.platforms.selectors import platform_batch, platform_offer, platform_offers
from tessera.vouchers.models import Batch, Code, Offer
from tessera.vouchers.selectors.batches import batches_of
from tessera.vouchers.selectors.codes import batch_codes
from tessera.vouchers.services import BatchSpec

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
