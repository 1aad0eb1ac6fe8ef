"""What the learner pages tell a learner after a change, in one set of words for every page."""

from tessera.catalog.models import Assessment, CourseSession
from tessera.catalog.selectors import enrollment_for, entitlement_for
from tessera.vouchers.models import Product, Redemption


def redeemed_message(redemption: Redemption, session: CourseSession) -> str:
    """What a learner is told once a code is redeemed, on the course page and after a redeem link."""
    name = str(session)
    if redemption.product == Product.PROCTORING:
        return f"Proctoring is booked for {name}."
    if redemption.product == Product.REACTIVATION:
        enrollment = enrollment_for(user=redemption.user, session=session)
        until = enrollment.reactivated_until if enrollment else None
        return f"{name} is reactivated for you until {until:%Y-%m-%d}." if until else f"{name} is reactivated."
    return f"You are enrolled in {name}."


def assessment_redeemed_message(redemption: Redemption, assessment: Assessment) -> str:
    """What a learner is told once a code for an assessment is redeemed: the attempts they hold now."""
    entitlement = entitlement_for(user=redemption.user, assessment=assessment)
    held = entitlement.attempts if entitlement else redemption.attempts
    return f"{assessment.title} is yours: {held} attempt{'s' if held != 1 else ''} in all."
