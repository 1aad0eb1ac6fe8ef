"""Course sessions on which no code can be redeemed any more, whatever its product.

Vouchers know nothing of who owns a session, so the apps that own sessions say which are closed
to redemptions (tessera.platforms: a session its platform archived) by registering a check when
Django starts. The redemption service asks once per attempt, before any product rule
(tessera.vouchers.services.redeem), so every way in (pages, redeem links, the API, the command
line, a check without redeeming) refuses such a session alike, as product_unavailable.
"""

from collections.abc import Callable

from tessera.catalog.models import CourseSession

# Answers why no code can be redeemed on the session (in words for the learner), or None.
ClosedCheck = Callable[[CourseSession], str | None]

_checks: list[ClosedCheck] = []


def closed_check_register(check: ClosedCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def closed_reason(session: CourseSession) -> str | None:
    for check in _checks:
        if reason := check(session):
            return reason
    return None
