"""Voucher configuration, read from settings at call time so tests and operators can change it."""

from django.conf import settings

from tessera.vouchers.errors import ProductUnavailable, VouchersDisabled


def vouchers_enabled() -> bool:
    return bool(settings.TESSERA_VOUCHERS_ENABLED)


def product_enabled(product: str) -> bool:
    return product in settings.TESSERA_PRODUCTS_ENABLED


def require_vouchers() -> None:
    if not vouchers_enabled():
        raise VouchersDisabled()


def require_product(product: str) -> None:
    if not product_enabled(product):
        raise ProductUnavailable(f"{product.capitalize()} vouchers are switched off on this platform.")


def code_length() -> int:
    return int(settings.TESSERA_CODE_LENGTH)


def code_prefix() -> str:
    return str(settings.TESSERA_CODE_PREFIX)
