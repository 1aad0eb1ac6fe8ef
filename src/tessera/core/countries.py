"""ISO 3166-1 alpha-2 country codes, from pycountry's copy of the ISO list (249 codes today)."""

import pycountry

from tessera.core.errors import InvalidInput

COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)


def country_code(value: str, *, field: str = "country") -> str:
    """Accepts a code in any case; answers it upper-cased or refuses it."""
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-2 country code.", field=field)
    return code
