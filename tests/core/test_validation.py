"""Plain values checked against a model field's limits (tessera.core.validation), so bad input is
refused before the database refuses it (PostgreSQL) or silently keeps it (SQLite)."""

from decimal import Decimal

import pytest

from tessera.core.errors import InvalidInput
from tessera.core.validation import fits_decimal, fits_text, one_of
from tessera.vouchers.models import Batch, Offer, Product


class TestFitsText:
    def test_text_up_to_the_columns_length_is_kept(self):
        assert fits_text(Batch, "tag", "t" * 100) == "t" * 100

    def test_longer_text_is_refused_naming_the_field_and_its_limit(self):
        with pytest.raises(InvalidInput, match=r"^Tag is at most 100 characters\.$") as refused:
            fits_text(Batch, "tag", "t" * 101)
        assert refused.value.field == "tag"


class TestFitsDecimal:
    @pytest.mark.parametrize("price", ["0", "12.5", "99999999.99", "-3"])
    def test_a_price_the_column_holds_is_kept(self, price):
        assert fits_decimal(Offer, "price", Decimal(price)) == Decimal(price)

    @pytest.mark.parametrize("price", ["100000000", "1.005", "NaN", "Infinity", "1E+400"])
    def test_a_price_the_column_cannot_hold_is_refused(self, price):
        with pytest.raises(InvalidInput, match=r"^Price must be a number below 100,000,000 with at most 2 decimals\.$"):
            fits_decimal(Offer, "price", Decimal(price))

    def test_only_a_decimal_column_can_be_asked(self):
        with pytest.raises(TypeError, match=r"Offer\.name is not a DecimalField"):
            fits_decimal(Offer, "name", Decimal(1))


class TestOneOf:
    def test_a_choice_is_kept(self):
        assert one_of(Product, "product", "proctoring") == "proctoring"

    def test_anything_else_is_refused_listing_the_choices(self):
        with pytest.raises(
            InvalidInput, match=r"^Product is one of enrollment, proctoring, reactivation, assessment\.$"
        ):
            one_of(Product, "product", "Proctoring")
