"""The course-platform routes of the /api/v1 API (mounted at /api/v1/platform): a platform's
server calls them with an access token from `POST /oauth/token`. Errors render as the rest of
/api/v1's do (tessera.api.v1)."""

from django.http import HttpRequest
from ninja import Router, Schema

from tessera.api.schemas import ERRORS
from tessera.platforms.auth import PLATFORM_AUTH
from tessera.platforms.learner_api import router as learner_routes
from tessera.platforms.models import Platform

router = Router(tags=["course platforms"], auth=PLATFORM_AUTH)
router.add_router("", learner_routes)  # its learners: /codes/check, /redemptions, /learners/...


class PlatformOut(Schema):
    name: str
    slug: str
    scopes: list[str]  # those the calling token carries


@router.get("", response={200: PlatformOut, **ERRORS}, summary="The calling platform and its token's scopes")
def platform_show(request: HttpRequest) -> PlatformOut:
    platform: Platform = request.auth  # type: ignore[attr-defined]
    scopes = sorted(request.platform_scopes)  # type: ignore[attr-defined]
    return PlatformOut(name=platform.name, slug=platform.slug, scopes=scopes)
