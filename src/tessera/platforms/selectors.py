"""Reads for the platform API, each through the calling platform: another platform's external id
is simply not found."""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, F, QuerySet
from django.utils import timezone

from tessera.core.errors import DoesNotExist
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession
from tessera.platforms.slugs import CHUNK, chunks
from tessera.vouchers.models import Assignment, Batch, Code, Offer


def _findable(*external_ids: str) -> bool:
    """Whether these ids could be stored at all: no text column of PostgreSQL's takes a NUL, and
    asking for one is an error there rather than nothing found."""
    return not any("\x00" in external_id for external_id in external_ids)


def platform_by_slug(slug: str) -> Platform:
    """A platform as the command line names it."""
    found = Platform.objects.filter(slug=slug).first() if _findable(slug) else None
    if found is None:
        raise DoesNotExist(f"There is no platform with the slug {slug!r}.")
    return found


def platform_course(platform: Platform, external_id: str) -> PlatformCourse:
    found = (
        PlatformCourse.objects.select_related("course").filter(platform=platform, external_id=external_id).first()
        if _findable(external_id)
        else None
    )
    if found is None:
        raise DoesNotExist(f"There is no course {external_id!r}.")
    return found


def platform_session(platform: Platform, course_external_id: str, external_id: str) -> PlatformSession:
    """The session, named by its course's external id and its own (a session of another of the
    platform's courses is not found either)."""
    found = (
        PlatformSession.objects.select_related("session", "course")
        .filter(platform=platform, external_id=external_id, course__external_id=course_external_id)
        .first()
        if _findable(course_external_id, external_id)
        else None
    )
    if found is None:
        raise DoesNotExist(f"There is no session {external_id!r} of course {course_external_id!r}.")
    return found


def courses_by_external_id(platform: Platform, external_ids: Iterable[str]) -> dict[str, PlatformCourse]:
    """The platform's courses among `external_ids`, with their Course rows."""
    found: dict[str, PlatformCourse] = {}
    for chunk in chunks(sorted(set(external_ids)), CHUNK):
        rows = PlatformCourse.objects.select_related("course").filter(platform=platform, external_id__in=chunk)
        found.update((row.external_id, row) for row in rows)
    return found


def sessions_by_external_id(platform: Platform, external_ids: Iterable[str]) -> dict[str, PlatformSession]:
    """The platform's sessions among `external_ids`, with their CourseSession rows and the
    external id of their course."""
    found: dict[str, PlatformSession] = {}
    for chunk in chunks(sorted(set(external_ids)), CHUNK):
        rows = PlatformSession.objects.select_related("session", "course").filter(
            platform=platform, external_id__in=chunk
        )
        found.update((row.external_id, row) for row in rows)
    return found


def live_codes_by_product(session_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """For each of these course sessions, its live codes by product: codes of offers for that
    session, neither they nor their batch revoked, the batch not expired, uses left. (Offers for
    any session are not counted: one session's change leaves them usable elsewhere.)"""
    now = timezone.now()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for chunk in chunks(sorted(set(session_ids)), CHUNK):
        rows = (
            Code.objects.filter(batch__offer__session_id__in=chunk, revoked_at__isnull=True)
            .filter(batch__revoked_at__isnull=True, uses__lt=F("max_uses"))
            .exclude(batch__expires_at__lte=now)
            .values_list("batch__offer__session_id", "batch__offer__product")
            .annotate(live=Count("*"))
            .order_by()
        )
        for session_id, product, live in rows:
            counts[session_id][product] = live
    return dict(counts)


# --- offers and batches: a platform's when their session is one of its sessions -------------------


def platform_offers(platform: Platform) -> QuerySet[Offer]:
    """The platform's offers, newest first, with their session's and course's external ids."""
    return (
        Offer.objects.filter(session__platform_session__platform=platform)
        .select_related("session__platform_session__course")
        .order_by("-pk")
    )


def platform_offer(platform: Platform, offer_id: int) -> Offer:
    found = platform_offers(platform).filter(pk=offer_id).first()
    if found is None:
        raise DoesNotExist(f"There is no offer {offer_id}.")
    return found


def platform_batch(platform: Platform, batch_id: int) -> Batch:
    found = (
        Batch.objects.filter(pk=batch_id, offer__session__platform_session__platform=platform)
        .select_related("offer", "restricted_to")
        .first()
    )
    if found is None:
        raise DoesNotExist(f"There is no batch {batch_id}.")
    return found


def platform_assignment(platform: Platform, assignment_id: int) -> Assignment:
    """A code sent to a recipient from one of the platform's batches; another's is not found."""
    found = (
        Assignment.objects.filter(pk=assignment_id, batch__offer__session__platform_session__platform=platform)
        .select_related("code", "batch__offer")
        .first()
    )
    if found is None:
        raise DoesNotExist(f"There is no assignment {assignment_id}.")
    return found
