"""The voucher settings checked at start-up (tessera.vouchers.checks): a configuration that cannot
work is reported before the first batch, each fault under its own id."""

import pytest
from django.core.checks import run_checks

from tessera.vouchers.checks import voucher_settings_check


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
