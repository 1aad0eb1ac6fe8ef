"""What every voucher command shares (tessera.vouchers.management.base): with vouchers off, each
says so and changes nothing; a refusal is the command's error under its code; moments and users
are read as typed."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management.base import CommandError

from tessera.vouchers.management.base import parse_moment, user_named
from tessera.vouchers.models import Offer
from tests.commands import run_command

VOUCHER_COMMANDS = [
    ("create_offer", "--name", "X", "--product", "enrollment"),
    ("create_batch", "--offer", "1", "--count", "1", "--country", "DE"),
    ("export",),
    ("show", "0000-0000-0000-0000"),
    ("stats",),
    ("revoke", "--batch", "1"),
    ("send_codes", "1", "list.csv"),
    ("remind_codes", "1"),
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


class TestARefusal:
    def test_is_the_commands_error_under_its_code(self, running_session):
        with pytest.raises(CommandError, match=r"^invalid_input: .*'bogus'"):
            run_command("create_offer", "--name", "X", "--product", "bogus", "--session", running_session.slug)


class TestParseMoment:
    def test_a_bare_date_means_through_the_end_of_that_day_utc(self):
        assert parse_moment("2030-06-30", field="expires") == datetime(2030, 7, 1, tzinfo=UTC)

    def test_a_date_time_without_an_offset_is_utc(self):
        assert parse_moment("2030-06-30T12:00:00", field="expires") == datetime(2030, 6, 30, 12, tzinfo=UTC)

    def test_a_date_time_keeps_its_offset(self):
        moment = parse_moment("2030-06-30T12:00:00+02:00", field="expires")
        assert moment.utcoffset() == timedelta(hours=2)
        assert moment == datetime(2030, 6, 30, 10, tzinfo=UTC)
        assert moment.tzinfo == timezone(timedelta(hours=2))

    def test_what_is_no_date_is_invalid_input_naming_the_option(self):
        with pytest.raises(CommandError, match=r"^invalid_input: sale-ends 'soon' is not an ISO date"):
            parse_moment("soon", field="sale-ends")


class TestUserNamed:
    def test_finds_the_user_by_username(self, learner):
        assert user_named("learner") == learner

    def test_an_unknown_user_is_invalid_input(self, db):
        with pytest.raises(CommandError, match=r"^invalid_input: There is no user 'nobody'"):
            user_named("nobody")
