from django.http import HttpRequest

from tessera.vouchers import config


def surfaces(request: HttpRequest) -> dict[str, bool]:
    """Whether the voucher surfaces exist, for the links every page's header shows."""
    return {"vouchers_enabled": config.vouchers_enabled()}
