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
    PlatformSession.objects.create(platform=platform, external_id=external_id, course=mapped, session=session)
    return session
