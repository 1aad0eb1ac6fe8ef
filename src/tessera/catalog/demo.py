"""A small demo catalog: three courses whose sessions show every product's rules at work, and an
assessment sold on its own.

Idempotent: running it again matches what exists by slug, moves the dates so they stay relative
to today (the running session keeps running, the ended one stays ended), and resets the demo
passwords.
"""

import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from tessera.catalog.models import Assessment, Course, CourseSession, Exam

DEMO_USERS = (("staff", True), ("alice", False), ("bob", False))


def demo_users_reset() -> dict[str, str]:
    """Creates or resets the staff user and two learners; answers their new passwords."""
    passwords = {}
    for username, is_staff in DEMO_USERS:
        user = _user(username, is_staff)
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save()
        passwords[username] = password
    return passwords


def _user(username: str, is_staff: bool) -> AbstractBaseUser:
    user, _ = get_user_model().objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.org", "is_staff": is_staff, "is_superuser": is_staff},
    )
    return user


def demo_catalog_load(now: datetime | None = None) -> list[CourseSession]:
    now = now or timezone.now()
    week = timedelta(weeks=1)
    running = _session(
        _course("python-basics", "Python Basics", "Variables, functions and tests, in eight weeks."),
        slug="python-basics-2026", title="2026 run", state=CourseSession.State.ACTIVE,
        starts_at=now - 2 * week, ends_at=now + 6 * week, capacity=100, offers_proctored_certificate=True,
    )  # fmt: skip
    ended = _session(
        _course("data-science", "Data Science Foundations", "Statistics and plots with real data."),
        slug="data-science-2025", title="2025 run", state=CourseSession.State.ARCHIVED,
        starts_at=now - 20 * week, ends_at=now - 8 * week, reactivation_enabled=True,
    )  # fmt: skip
    upcoming = _session(
        _course("web-security", "Web Security", "How web applications break, and how to build them so they don't."),
        slug="web-security-2027", title="2027 run", state=CourseSession.State.PREPARATION,
        starts_at=now + 6 * week, ends_at=now + 14 * week, capacity=30, offers_proctored_certificate=True,
    )  # fmt: skip
    _exam(running, "Midterm exam", now + 2 * week, proctored=True)
    _exam(running, "Final exam", now + 5 * week, proctored=True)
    _exam(ended, "Final assignment", now - 9 * week, proctored=False)
    _exam(upcoming, "Capstone", now + 13 * week, proctored=True)
    return [running, ended, upcoming]


def demo_assessment_load(now: datetime | None = None) -> Assessment:
    """A placement test sold on its own (no course), open for three months from a week ago, of
    which a learner may hold up to three attempts."""
    now = now or timezone.now()
    week = timedelta(weeks=1)
    assessment, _ = Assessment.objects.update_or_create(
        slug="python-placement",
        defaults={
            "title": "Python Placement Test", "course": None, "attempts": 3, "active": True,
            "description": "Forty questions that tell you which Python course to start with.",
            "opens_at": now - week, "closes_at": now + 12 * week,
        },
    )  # fmt: skip
    return assessment


def _course(slug: str, title: str, description: str) -> Course:
    course, _ = Course.objects.get_or_create(slug=slug, defaults={"title": title, "description": description})
    return course


def _session(course: Course, *, slug: str, **fields: object) -> CourseSession:
    session, _ = CourseSession.objects.update_or_create(slug=slug, defaults={"course": course, **fields})
    return session


def _exam(session: CourseSession, title: str, deadline: datetime, *, proctored: bool) -> None:
    Exam.objects.update_or_create(
        session=session, title=title, defaults={"submission_deadline": deadline, "proctored": proctored}
    )
