"""Two course platforms, A and B, and a way to get an access token for either, as a platform's
server does: POST /oauth/token with its client id and secret (client credentials)."""

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tessera.catalog.models import Course, CourseSession, Exam
from tessera.platforms.models import (
    Platform,
    PlatformCourse,
    PlatformEvent,
    PlatformLearner,
    PlatformReactivation,
    PlatformSession,
)
from tessera.platforms.services import Credentials, platform_create
from tessera.vouchers.models import Offer
from tessera.vouchers.services import voucher_redeem
from tests.platform_sessions import session_mapped

TokenFor = Callable[..., str]


@pytest.fixture
def platform_a(db: None) -> Credentials:
    return platform_create(name="Moodle A", slug="moodle-a", return_urls=["https://lms-a.example/course/"])


@pytest.fixture
def platform_b(db: None) -> Credentials:
    return platform_create(name="Open edX B", slug="edx-b", return_urls=["https://lms-b.example/"])


def basic(credentials: Credentials, secret: str | None = None) -> str:
    pair = f"{credentials.client_id}:{secret if secret is not None else credentials.client_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def token_response(client: Client, credentials: Credentials, *, scope: str | None = None, secret: str | None = None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    return client.post("/oauth/token", data, HTTP_AUTHORIZATION=basic(credentials, secret))


@pytest.fixture
def token_for(client: Client) -> TokenFor:
    """token_for(credentials, scope="catalog redeem") -> an access token (every granted scope when None)."""

    def issue(credentials: Credentials, scope: str | None = None) -> str:
        response = token_response(client, credentials, scope=scope)
        assert response.status_code == 200, response.content
        token: str = response.json()["access_token"]
        return token

    return issue


@pytest.fixture
def as_platform() -> Callable[[str], dict[str, str]]:
    """Headers for a platform's API call with this access token."""
    return lambda token: {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- the platforms' sessions, made directly (as the catalog API would) ---------------------------

MakePlatformSession = Callable[..., PlatformSession]


@pytest.fixture
def make_platform_session(db: None, now: datetime) -> MakePlatformSession:
    """make_platform_session(credentials, "s-1", course="c-1", **CourseSession fields) -> a session
    of that platform's course, running and open for enrollment unless the fields say otherwise."""

    def make(credentials: Credentials, external_id: str, *, course: str = "c-1", **fields: Any) -> PlatformSession:
        platform = credentials.platform
        platform_course = PlatformCourse.objects.filter(platform=platform, external_id=course).first()
        if platform_course is None:
            tessera_course = Course.objects.create(slug=f"{platform.slug}-{course}", title=f"Course {course}")
            platform_course = PlatformCourse.objects.create(
                platform=platform, external_id=course, course=tessera_course
            )
        running = {"starts_at": now - timedelta(weeks=1), "ends_at": now + timedelta(weeks=7)}
        fields = {"state": CourseSession.State.ACTIVE, **running, **fields}
        session = CourseSession.objects.create(
            course=platform_course.course, slug=f"{platform.slug}-{course}-{external_id}", **fields
        )
        return session_mapped(platform, platform_course, external_id, session)

    return make


# --- a platform's sessions and learners, for the events tests -------------------------------------


@pytest.fixture
def events_session(db: None, now: datetime) -> Callable[..., PlatformSession]:
    """events_session(credentials, session=None, external_id="s-1") -> `session` (or a new running
    session of a new course) as the platform's: its course and session mapped under external ids
    (an archived one made active, as a platform's ended session is)."""
    made = iter(range(1, 1000))

    def make(
        credentials: Credentials, session: CourseSession | None = None, external_id: str = "s-1"
    ) -> PlatformSession:
        platform = credentials.platform
        if session is None:
            number = next(made)
            course = Course.objects.create(slug=f"{platform.slug}-course-{number}", title=f"Course {number}")
            session = CourseSession.objects.create(
                course=course, slug=f"{platform.slug}-session-{number}", state=CourseSession.State.ACTIVE,
                starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7), offers_proctored_certificate=True,
            )  # fmt: skip
        if session.state == CourseSession.State.ARCHIVED:
            # A platform archives a session to withdraw it, and no code is redeemed on it then
            # (tessera.platforms.catalog): a platform's ended session is active, its dates ended.
            session.state = CourseSession.State.ACTIVE
            session.save(update_fields=["state"])
        mapped_course, _ = PlatformCourse.objects.get_or_create(
            course=session.course, defaults={"platform": platform, "external_id": f"c-{session.course.slug}"}
        )
        return session_mapped(platform, mapped_course, external_id, session)

    return make


@pytest.fixture
def platform_session(
    platform_a: Credentials, make_platform_session: MakePlatformSession, now: datetime
) -> PlatformSession:
    """Platform A's session "s-1" of its course "c-1": running, open for enrollment, offering a
    proctored certificate (its first proctored exam two weeks away)."""
    session = make_platform_session(platform_a, "s-1", offers_proctored_certificate=True)
    Exam.objects.create(
        session=session.session, title="Final", submission_deadline=now + timedelta(weeks=2), proctored=True
    )
    return session


@pytest.fixture
def platform_ended_session(
    platform_a: Credentials, make_platform_session: MakePlatformSession, now: datetime
) -> PlatformSession:
    """Platform A's session "s-0" of course "c-1": ended weeks ago (not archived: an archived
    platform session takes no codes), reactivation on."""
    return make_platform_session(
        platform_a, "s-0", starts_at=now - timedelta(weeks=20), ends_at=now - timedelta(weeks=8),
        reactivation_enabled=True,
    )  # fmt: skip


@pytest.fixture
def platform_b_session(platform_b: Credentials, make_platform_session: MakePlatformSession) -> PlatformSession:
    """Platform B's session "s-1" (the same external id as A's) of its course "c-1": running."""
    return make_platform_session(platform_b, "s-1")


@pytest.fixture
def events_learner(db: None) -> Callable[..., User]:
    """events_learner(credentials, external_id="u-1") -> the platform's learner of that id (a new User)."""

    def make(credentials: Credentials, external_id: str = "u-1") -> User:
        platform = credentials.platform
        user = User.objects.create_user(f"{platform.slug}:{external_id}")
        PlatformLearner.objects.create(platform=platform, external_id=external_id, user=user)
        return user

    return make


@pytest.fixture
def reactivated(
    platform_a: Credentials, events_session: Callable[..., PlatformSession], ended_session: CourseSession,
    reactivation_offer: Offer, make_code: Callable[..., str], events_learner: Callable[..., User],
) -> Callable[[int], datetime]:  # fmt: skip
    """reactivated(n) -> n reactivations on platform A's ended session (learners r-0, r-1 ...), and
    their end."""
    events_session(platform_a, ended_session)

    def make(count: int) -> datetime:
        for number in range(count):
            user = events_learner(platform_a, f"r-{number}")
            voucher_redeem(code=make_code(reactivation_offer), user=user, session=ended_session)
        return PlatformReactivation.objects.latest("until").until

    return make


@pytest.fixture
def events_written(db: None) -> Callable[..., list[PlatformEvent]]:
    """events_written(credentials, count) -> `count` events for the platform, numbered on from its
    last one as the outbox numbers them (type code.redeemed, data {"n": seq}), a second apart."""

    def write(credentials: Credentials, count: int) -> list[PlatformEvent]:
        platform = Platform.objects.get(pk=credentials.platform.pk)
        start, now = platform.last_event_seq, timezone.now()
        events = PlatformEvent.objects.bulk_create(
            PlatformEvent(platform=platform, seq=start + number, type=PlatformEvent.Type.CODE_REDEEMED,
                          occurred_at=now + timedelta(seconds=number), data={"n": start + number})
            for number in range(1, count + 1)
        )  # fmt: skip
        Platform.objects.filter(pk=platform.pk).update(last_event_seq=start + count)
        return events

    return write
