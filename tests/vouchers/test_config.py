"""Configuration from the environment: vouchers off, products off, code shape, start-up checks."""

import pytest
from django.core.checks import run_checks

from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers.checks import voucher_settings_check
from tessera.vouchers.models import Batch, Product


class TestVouchersSwitch:
    def test_vouchers_off_hides_the_voucher_admin(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert client.get("/admin/vouchers/code/").status_code == 404
        assert client.get("/admin/catalog/course/").status_code == 200

    def test_vouchers_on_shows_it(self, client, staff):
        client.force_login(staff)
        assert client.get("/admin/vouchers/code/").status_code == 200

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


class TestStartupCheck:
    def test_the_default_configuration_passes(self):
        assert voucher_settings_check() == []

    @pytest.mark.parametrize(
        ("setting", "value", "error_id"),
        [
            ("TESSERA_PRODUCTS_ENABLED", ["enrollment", "coffee"], "tessera.E001"),
            ("TESSERA_CODE_PREFIX", "U!", "tessera.E002"),
            ("TESSERA_CODE_LENGTH", 12, "tessera.E003"),
            ("TESSERA_REACTIVATION_WEEKS", 0, "tessera.E004"),
        ],
    )
    def test_a_broken_setting_is_reported_at_startup(self, settings, setting, value, error_id):
        setattr(settings, setting, value)
        assert error_id in {error.id for error in run_checks()}


class TestEnvironmentValues:
    """Settings are read once at start-up; a value that cannot be read stops it with one line."""

    def _settings_with(self, **env):
        import subprocess
        import sys

        code = "import tessera.settings"
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code], env={**__import__("os").environ, **env}, capture_output=True, text=True
        )

    def test_a_non_number_is_refused_by_name(self):
        result = self._settings_with(TESSERA_CODE_LENGTH="sixteen")
        assert result.returncode != 0
        assert "TESSERA_CODE_LENGTH is a whole number, not 'sixteen'." in result.stderr

    def test_an_unknown_switch_word_is_refused_rather_than_read_as_off(self):
        result = self._settings_with(TESSERA_VOUCHERS="enabled")
        assert result.returncode != 0
        assert "TESSERA_VOUCHERS is on or off, not 'enabled'." in result.stderr

    def test_plain_values_are_read(self):
        assert self._settings_with(TESSERA_VOUCHERS="off", TESSERA_CODE_LENGTH="20").returncode == 0
