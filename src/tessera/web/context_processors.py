from django.conf import settings
from django.http import HttpRequest

from tessera.vouchers import config
from tessera.web.staff.access import may_manage_vouchers


def surfaces(request: HttpRequest) -> dict[str, bool]:
    """Whether the voucher surfaces and the sign-up page exist, and whether the staff pages let this
    user in, for the links every page's header shows (the same check as the staff pages' own door)."""
    return {
        "vouchers_enabled": config.vouchers_enabled(),
        "may_manage_vouchers": may_manage_vouchers(getattr(request, "user", None)),
        "signup_enabled": settings.TESSERA_SIGNUP_ENABLED,
    }
