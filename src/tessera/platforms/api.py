"""The course-platform routes of the /api/v1 API (mounted at /api/v1/platform): a platform's
server calls them with an access token from `POST /oauth/token`. Errors render as the rest of
/api/v1's do (tessera.api.v1)."""

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema

from tessera.api.schemas import ERRORS
from tessera.platforms.auth import PLATFORM_AUTH, calling_platform
from tessera.platforms.catalog_api import router as catalog_router
from tessera.platforms.feed import DEFAULT_LIMIT, events_after
from tessera.platforms.learner_api import router as learner_routes
from tessera.platforms.models import Platform
from tessera.platforms.offers_api import router as offers_router

router = Router(tags=["course platforms"], auth=PLATFORM_AUTH)
router.add_router("", learner_routes)  # its learners: /codes/check, /redemptions, /learners/...
router.add_router("", catalog_router)  # its catalog: /courses/..., /catalog:import
router.add_router("", offers_router)  # offers and codes for its sessions: /offers/..., /batches/...


class PlatformOut(Schema):
    name: str
    slug: str
    scopes: list[str]  # those the calling token carries


@router.get("", response={200: PlatformOut, **ERRORS}, summary="The calling platform and its token's scopes")
def platform_show(request: HttpRequest) -> PlatformOut:
    platform: Platform = request.auth  # type: ignore[attr-defined]
    scopes = sorted(request.platform_scopes)  # type: ignore[attr-defined]
    return PlatformOut(name=platform.name, slug=platform.slug, scopes=scopes)


class EventOut(Schema):
    id: UUID = Field(description="The same on every delivery of the event: drop repeats by it.")
    seq: int = Field(description="Per platform, from 1, without gaps, in the order the changes committed.")
    type: str = Field(examples=["entitlement.granted"])
    occurred_at: str = Field(
        description="When the change committed (UTC), as in the webhook's body.",
        json_schema_extra={"format": "date-time"},
    )
    data: dict[str, Any] = Field(description="The event's facts; see the Events section of the platforms guide.")


class FeedOut(Schema):
    events: list[EventOut]
    next: str = Field(description="The cursor to send as `after` next time (opaque).")


@router.get(
    "/events", response={200: FeedOut, **ERRORS}, summary="The platform's events after a cursor, in sequence order"
)
def events_feed(request: HttpRequest, after: str = "0", limit: int = DEFAULT_LIMIT) -> FeedOut:
    """`after`: a page's `next`, or 0 for the first event; `limit`: 1 to 1000 (100 unless given).
    Poll with the last `next` you stored, or replay from any earlier cursor after an outage."""
    platform = calling_platform(request, "events")
    page = events_after(platform=platform, after=after, limit=limit)
    return FeedOut(events=page.events, next=page.next)  # type: ignore[arg-type]
