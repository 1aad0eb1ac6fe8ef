"""A platform's course session as its mapping rows make it (tessera.platforms.models), for the
tests of what names one: redeem links, pages and the platform API."""

from datetime import timedelta

from django.utils import timezone

from tessera.catalog.models import Course, CourseSession
from tessera.platforms.models import Platform, PlatformCourse, PlatformSession


def platform_session(platform: Platform, external_id: str, slug: str) -> CourseSession:
    """A running session, open for enrollment, that `platform` calls `external_id` (its course
    is called "c-<external id>"); Tessera calls it `slug`."""
    course = Course.objects.create(slug=f"{slug}-course", title=f"Course {slug}")
    session = CourseSession.objects.create(
        course=course, slug=slug, state=CourseSession.State.ACTIVE,
        starts_at=timezone.now() - timedelta(days=1), ends_at=timezone.now() + timedelta(days=30),
    )  # fmt: skip
    mapped = PlatformCourse.objects.create(platform=platform, external_id=f"c-{external_id}", course=course)
    return session_mapped(platform, mapped, external_id, session).session


def session_mapped(
    platform: Platform, course: PlatformCourse, external_id: str, session: CourseSession
) -> PlatformSession:
    """`session` as the platform's, the way its catalog makes one (tessera.platforms.catalog): mapped
    under `external_id` in `course`, and marked as a platform's session."""
    session.source = CourseSession.Source.PLATFORM
    session.save(update_fields=["source"])
    return PlatformSession.objects.create(platform=platform, external_id=external_id, course=course, session=session)
