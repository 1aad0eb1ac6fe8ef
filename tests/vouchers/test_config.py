"""Voucher configuration (tessera.vouchers.config), read at call time: vouchers off, products off,
the shape of new codes."""

import pytest

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.models import Batch, Product


class TestVouchersSwitch:
    def test_vouchers_off_refuses_new_offers_and_batches(self, enrollment_offer, make_batch, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(DomainError) as caught:
            make_batch(enrollment_offer)
        assert caught.value.code == "vouchers_disabled"
        assert not Batch.objects.exists()


class TestProductSwitch:
    def test_a_product_off_gets_no_new_batches(self, proctoring_offer, make_batch, settings):
        settings.TESSERA_PRODUCTS_ENABLED = [Product.ENROLLMENT]
        with pytest.raises(DomainError) as caught:
            make_batch(proctoring_offer)
        assert caught.value.code == "product_unavailable"


class TestCodeShape:
    def test_a_configured_prefix_and_length_shape_new_codes(self, enrollment_offer, make_batch, settings):
        settings.TESSERA_CODE_PREFIX = "ACME"
        settings.TESSERA_CODE_LENGTH = 20
        code = make_batch(enrollment_offer).codes.get().code
        assert code.startswith("ACME")
        assert len(code) == 24

    def test_a_prefix_too_long_for_the_length_is_refused(self, enrollment_offer, make_batch, settings):
        settings.TESSERA_CODE_LENGTH = 25
        with pytest.raises(InvalidInput) as caught:
            make_batch(enrollment_offer, prefix="ABCDEFGH")
        assert caught.value.field == "prefix"
        assert not Batch.objects.exists()
