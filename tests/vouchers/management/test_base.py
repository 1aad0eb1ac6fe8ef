"""What every voucher command shares (tessera.vouchers.management.base): with vouchers off, each
says so and changes nothing."""

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.models import Offer
from tests.commands import run_command

VOUCHER_COMMANDS = [
    ("create_offer", "--name", "X", "--product", "enrollment"),
    ("create_batch", "--offer", "1", "--count", "1", "--country", "DE"),
    ("export",),
    ("show", "0000-0000-0000-0000"),
    ("stats",),
    ("revoke", "--batch", "1"),
    ("reverse", "0000-0000-0000-0000", "--user", "learner"),
]


class TestVouchersOff:
    @pytest.mark.parametrize("command", VOUCHER_COMMANDS, ids=lambda command: command[0])
    def test_every_voucher_command_says_vouchers_are_disabled(self, db, settings, command):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(CommandError, match="disabled"):
            run_command(*command)
        assert not Offer.objects.exists()

    def test_batches_stay_untouched(self, enrollment_offer, make_batch, settings):
        batch = make_batch(enrollment_offer, count=2)
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(CommandError, match="disabled"):
            run_command("revoke", "--batch", str(batch.pk))
        assert not batch.codes.filter(revoked_at__isnull=False).exists()
