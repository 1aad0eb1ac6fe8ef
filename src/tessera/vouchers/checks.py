"""Refuses a voucher configuration that cannot work, at start-up rather than at the first batch."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Product


@register()
def voucher_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    unknown = set(settings.TESSERA_PRODUCTS_ENABLED) - set(Product.values)
    if unknown:
        errors.append(
            Error(f"TESSERA_PRODUCTS names unknown products: {', '.join(sorted(unknown))}.", id="tessera.E001")
        )
    try:
        prefix = codebook.normalize_prefix(settings.TESSERA_CODE_PREFIX)
    except ValueError as error:
        errors.append(Error(f"TESSERA_CODE_PREFIX: {error}", id="tessera.E002"))
        prefix = ""
    longest = codebook.MAX_TOTAL - len(prefix)
    if not codebook.MIN_LENGTH <= settings.TESSERA_CODE_LENGTH <= longest:
        errors.append(Error(f"TESSERA_CODE_LENGTH must be from {codebook.MIN_LENGTH} to {longest}.", id="tessera.E003"))
    if settings.TESSERA_REACTIVATION_WEEKS < 1:
        errors.append(Error("TESSERA_REACTIVATION_WEEKS must be at least 1.", id="tessera.E004"))
    return errors
