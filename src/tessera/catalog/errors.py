from tessera.core.errors import DomainError


class EnrollmentConflict(DomainError):
    """The enrollment changed under us (a concurrent request got there first); nothing was written.

    Its code is the product-rule refusal, because that is what the learner would have been told
    had the other request finished a moment earlier.
    """

    code = "not_eligible"
    http_status = 409
    default_message = "This is already active for you."


class EntitlementConflict(EnrollmentConflict):
    """An assessment entitlement changed under us, or holds as many attempts as allowed already."""
