"""Reads about a platform's learners, each through the calling platform: another platform's
learner or session is simply not there."""

from dataclasses import dataclass

from django.contrib.auth.models import User

from tessera.catalog.models import CourseSession, Enrollment
from tessera.core.errors import DoesNotExist, InvalidInput
from tessera.platforms.models import Platform, PlatformLearner, PlatformSession
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.selectors.codes import CodeDetails, code_key, details_of
from tessera.vouchers.selectors.entitlements import entitlements_of

MAX_EXTERNAL_ID = PlatformLearner._meta.get_field("external_id").max_length or 255


def external_id_checked(external_id: str, *, field: str) -> str:
    """A platform's id of one of its things: 1 to 255 characters, taken exactly as given (ids
    are the platform's, so "A1" and "a1" are two), without NUL, which PostgreSQL text refuses."""
    if not 1 <= len(external_id) <= MAX_EXTERNAL_ID:
        raise InvalidInput(f"An external id is 1 to {MAX_EXTERNAL_ID} characters.", field=field)
    if "\x00" in external_id:
        raise InvalidInput("An external id must not contain NUL characters.", field=field)
    return external_id


def session_by_external_id(platform: Platform, external_id: str) -> PlatformSession:
    """One of the platform's sessions, with its course session and course (a redemption needs
    both) and its platform course."""
    external_id_checked(external_id, field="session")
    found = (
        PlatformSession.objects.select_related("session__course", "course")
        .filter(platform=platform, external_id=external_id)
        .first()
    )
    if found is None:
        raise DoesNotExist(f"There is no session {external_id!r}.")
    return found


def learner_user(platform: Platform, external_id: str) -> User | None:
    """The user the platform's learner is, if the platform has used them before."""
    found = PlatformLearner.objects.select_related("user").filter(platform=platform, external_id=external_id).first()
    return None if found is None else found.user


@dataclass(frozen=True)
class SessionNames:
    """How the platform names a course session: its session's and its course's external ids."""

    session: str
    course: str


@dataclass(frozen=True)
class LearnerEntitlements:
    """What a learner holds in the platform's sessions, and the platform's names of them."""

    enrollments: list[Enrollment]
    redemptions: list[Redemption]
    names: dict[int, SessionNames]  # by CourseSession id


NO_ENTITLEMENTS = LearnerEntitlements(enrollments=[], redemptions=[], names={})


def learner_entitlements(platform: Platform, external_id: str) -> LearnerEntitlements:
    """The learner's enrollments and redemptions in the platform's sessions only (a learner
    helped by staff elsewhere keeps that to Tessera). A learner the platform has not used yet
    holds nothing, and is not created by asking."""
    external_id_checked(external_id, field="learner")
    user = learner_user(platform, external_id)
    if user is None:
        return NO_ENTITLEMENTS
    held = entitlements_of(user, sessions=CourseSession.objects.filter(platform_session__platform=platform))
    # Only the platform's sessions were asked for, so every redemption here names one.
    session_ids = {e.session_id for e in held.enrollments} | {r.session_id for r in held.redemptions if r.session_id}
    return LearnerEntitlements(
        enrollments=held.enrollments, redemptions=held.redemptions, names=session_names(platform, session_ids)
    )


def session_names(platform: Platform, session_ids: set[int]) -> dict[int, SessionNames]:
    rows = PlatformSession.objects.filter(platform=platform, session_id__in=session_ids).values_list(
        "session_id", "external_id", "course__external_id"
    )
    return {session_id: SessionNames(session=session, course=course) for session_id, session, course in rows}


@dataclass(frozen=True)
class PlatformCodeDetails:
    """One of the platform's codes, its redemptions, and the platform's names for its session and
    for the learners who redeemed it (None for anyone who is not one of its learners: an account
    of Tessera's own, whose name is none of the platform's business)."""

    details: CodeDetails
    session: SessionNames
    learners: dict[int, str]  # the platform's learner id by user id


def platform_code_details(platform: Platform, text: str) -> PlatformCodeDetails:
    """A code of an offer for one of the platform's sessions; any other code is not found, as one
    that does not exist is."""
    lookup = code_key(text)
    code = (
        Code.objects.select_related("batch__offer")
        .filter(pk=lookup.key, batch__offer__session__platform_session__platform=platform)
        .first()
    )
    if code is None:
        raise lookup.missing
    details = details_of(code)
    session = PlatformSession.objects.select_related("course").get(
        platform=platform, session_id=code.batch.offer.session_id
    )
    users = {redemption.user_id for redemption in details.redemptions}
    learners = PlatformLearner.objects.filter(platform=platform, user_id__in=users).values_list(
        "user_id", "external_id"
    )
    return PlatformCodeDetails(
        details=details, session=SessionNames(session=session.external_id, course=session.course.external_id),
        learners=dict(learners),
    )  # fmt: skip
