"""Country codes (tessera.core.countries): ISO 3166-1 alpha-2 as pycountry keeps the list."""

import pytest

from tessera.core.countries import COUNTRY_CODES, country_code
from tessera.core.errors import InvalidInput


class TestCountryCodes:
    def test_are_the_249_assigned_codes(self):
        assert len(COUNTRY_CODES) == 249
        assert {"DE", "US", "SS", "BQ", "AX"} <= COUNTRY_CODES

    def test_leave_out_codes_that_are_not_assigned(self):
        assert not {"XK", "EU", "UK", "AAA", ""} & COUNTRY_CODES


class TestCountryCode:
    @pytest.mark.parametrize(("given", "answered"), [("de", "DE"), (" Us ", "US"), ("GB", "GB")])
    def test_is_read_in_any_case(self, given, answered):
        assert country_code(given) == answered

    @pytest.mark.parametrize("given", ["UK", "XK", "DEU", "", "D"])
    def test_refuses_what_is_no_assigned_code(self, given):
        with pytest.raises(InvalidInput) as refused:
            country_code(given, field="country")
        assert refused.value.field == "country"
