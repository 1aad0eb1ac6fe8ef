"""A platform's learners: created on first use, and checking and redeeming codes through their
platform's server.

A platform names its learner by its own id ("1234"); Tessera keeps a User of its own for them
(no password, no email), so redemptions, enrollments, rate limits and the audit log work as for
anyone. The platform vouches for who its learner is: there is no per-learner token.
"""

import hashlib
import ipaddress
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from tessera.catalog.models import Enrollment
from tessera.catalog.selectors import enrollment_for
from tessera.core.errors import InvalidInput
from tessera.platforms.learner_selectors import external_id_checked, learner_user, session_by_external_id
from tessera.platforms.models import Platform, PlatformLearner, PlatformSession
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent, Redemption
from tessera.vouchers.services import Preview, voucher_check, voucher_redeem

MAX_USERNAME = User._meta.get_field("username").max_length or 150


def learner_username(platform: Platform, external_id: str) -> str:
    """The learner's username: "<platform slug>:<external id>", or, when that is too long for a
    username, the slug and the id's SHA-256. (Django's own forms allow no colon in a username, so
    no account signed up on Tessera's pages takes one of these names.)"""
    username = f"{platform.slug}:{external_id}"
    if len(username) <= MAX_USERNAME:
        return username
    return f"{platform.slug}:sha256:{hashlib.sha256(external_id.encode()).hexdigest()}"


def platform_learner(*, platform: Platform, external_id: str) -> User:
    """The platform's learner `external_id`, created on first use (and audited as
    learner_created). Two first requests at once make one learner: the unique username lets one
    insert through and makes the other wait for it, fail and read what it wrote."""
    external_id_checked(external_id, field="learner")
    user = learner_user(platform, external_id)
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return _learner_create(platform, external_id)
    except IntegrityError:
        user = learner_user(platform, external_id)
    if user is None:
        # The username is another account's: one made by hand with a colon in its name, or a
        # platform's id shaped like the digest form of another of its ids.
        raise InvalidInput("This learner id cannot be given an account; use another id.", field="learner")
    return user


def _learner_create(platform: Platform, external_id: str) -> User:
    user = User(username=learner_username(platform, external_id))
    user.set_unusable_password()
    user.save()
    PlatformLearner.objects.create(platform=platform, external_id=external_id, user=user)
    # The platform's id of the learner stays out of the log, as usernames do (vouchers.audit).
    audit_record(action=AuditEvent.Action.LEARNER_CREATED, actor=platform.actor, platform_id=platform.pk,
                 user_id=user.pk)  # fmt: skip
    return user


@dataclass(frozen=True)
class LearnerAttempt:
    """A check or redemption as a platform asks for it: every name is the platform's."""

    learner: str
    code: str
    session: str
    product: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class LearnerPreview:
    preview: Preview
    session: PlatformSession


@dataclass(frozen=True)
class LearnerRedemption:
    redemption: Redemption
    session: PlatformSession
    learner: str
    # The learner's enrollment in the session once redeemed: what the redemption did.
    enrollment: Enrollment | None


def platform_code_check(*, platform: Platform, attempt: LearnerAttempt) -> LearnerPreview:
    """What the code would unlock for the learner on one of the platform's sessions (voucher_check:
    the same refusals, and the same rate limits). The learner is created on first use by a check
    too: the limits count a check under the learner's own key, so the learner needs one."""
    session, user, address = _session_learner_address(platform, attempt)
    preview = voucher_check(
        code=attempt.code, user=user, session=session.session, product=attempt.product, client_ip=address,
        unknown_address_shared=False,
    )  # fmt: skip
    return LearnerPreview(preview=preview, session=session)


def platform_code_redeem(*, platform: Platform, attempt: LearnerAttempt) -> LearnerRedemption:
    """Redeems the code for the learner on one of the platform's sessions (voucher_redeem: the
    same refusals and rate limits, the redemption audited under the learner as any is)."""
    session, user, address = _session_learner_address(platform, attempt)
    redemption = voucher_redeem(
        code=attempt.code, user=user, session=session.session, product=attempt.product, client_ip=address,
        unknown_address_shared=False,
    )  # fmt: skip
    enrollment = enrollment_for(user=user, session=session.session)
    return LearnerRedemption(redemption=redemption, session=session, learner=attempt.learner, enrollment=enrollment)


def _session_learner_address(platform: Platform, attempt: LearnerAttempt) -> tuple[PlatformSession, User, str | None]:
    """Everything checked before anything is created: a session not the platform's is not found,
    and no learner is made for it.

    The rate limits count the learner and the address the platform reports (`unknown_address_shared`
    False): never the address of the platform's server, which is no learner's, and without a
    reported address the learner alone (docs/rate-limits.md, "Course platforms' learners")."""
    external_id_checked(attempt.learner, field="learner")
    address = _address_checked(attempt.client_ip)
    session = session_by_external_id(platform, attempt.session)
    return session, platform_learner(platform=platform, external_id=attempt.learner), address


def _address_checked(client_ip: str | None) -> str | None:
    """An IPv4 or IPv6 address in its usual form; none with an IPv6 zone ("%eth0"), which no
    learner's address across the internet has and the redemption's column cannot store."""
    if client_ip is None:
        return None
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        address = None
    if address is None or getattr(address, "scope_id", None):
        raise InvalidInput(f"{client_ip[:60]!r} is no IPv4 or IPv6 address.", field="client_ip")
    return str(address)
