"""`tessera create-batch`: a batch of codes for an offer, its options, its refusals and its progress bar."""

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.vouchers import codes
from tessera.vouchers.models import Batch, Offer
from tessera.vouchers.selectors.codes import display_code
from tests.commands import run_command
from tests.vouchers.management.commands.conftest import create_offer


def create_batch(offer: Offer, *args: str) -> tuple[Batch, str]:
    out = run_command("create_batch", "--offer", str(offer.pk), "--country", "DE", "--no-progress", *args)
    match = re.search(r"Created batch (\d+): ", out)
    assert match, out
    return Batch.objects.get(pk=int(match[1])), out


class TestCreateBatch:
    def test_create_offer_then_create_batch(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "5", "--uses", "3", "--country", "at", "--tag", "fair")
        assert f"Created batch {batch.pk}: 5 codes for {offer}" in out
        assert batch.codes.count() == 5
        assert set(batch.codes.values_list("max_uses", flat=True)) == {3}
        assert (batch.country, batch.tag, batch.created_by) == ("AT", "fair", "cli")
        assert batch.expires_at is None
        assert batch.restricted_to is None

    def test_expires_on_a_date_means_through_the_end_of_that_day_utc(self, running_session):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--expires", "2030-06-30")
        assert batch.expires_at == datetime(2030, 7, 1, tzinfo=UTC)
        assert not batch.is_expired(datetime(2030, 6, 30, 23, 59, 59, tzinfo=UTC))
        assert batch.is_expired(datetime(2030, 7, 1, tzinfo=UTC))

    def test_expires_takes_a_date_time_too(self, running_session):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--expires", "2030-06-30T12:00:00")
        assert batch.expires_at == datetime(2030, 6, 30, 12, tzinfo=UTC)

    def test_user_restricts_the_codes_to_that_user(self, running_session, learner):
        offer = create_offer(running_session.slug)
        batch, _ = create_batch(offer, "--count", "1", "--user", "learner")
        assert batch.restricted_to == learner

    def test_print_codes_prints_every_code_in_display_form(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "4", "--prefix", "fair", "--print-codes")
        printed = out.splitlines()[1:]
        assert len(printed) == 4
        assert all(line.startswith("FA1R-") for line in printed)
        stored = {display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)}
        assert set(printed) == stored
        assert {codes.parse(line) for line in printed} == set(batch.codes.values_list("code", flat=True))

    def test_without_print_codes_no_code_is_printed(self, running_session):
        offer = create_offer(running_session.slug)
        batch, out = create_batch(offer, "--count", "2")
        assert len(out.splitlines()) == 1
        assert batch.codes.first().code not in out

    def test_an_unknown_offer_is_not_found(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run_command("create_batch", "--offer", "999999", "--count", "1", "--country", "DE")
        assert not Batch.objects.exists()

    def test_count_zero_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "0")
        assert not Batch.objects.exists()

    def test_an_unknown_country_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--country", "Germany")
        assert not Batch.objects.exists()

    def test_an_unknown_user_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match=r"invalid_input.*nobody"):
            create_batch(offer, "--count", "1", "--user", "nobody")
        assert not Batch.objects.exists()

    @pytest.mark.parametrize("expires", ["30.06.2030", "2030-13-01", "next week", "2030-06-31"])
    def test_a_malformed_expiry_is_invalid_input(self, running_session, expires):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--expires", expires)
        assert not Batch.objects.exists()

    def test_an_expiry_in_the_past_is_invalid_input(self, running_session):
        offer = create_offer(running_session.slug)
        with pytest.raises(CommandError, match="invalid_input"):
            create_batch(offer, "--count", "1", "--expires", "2001-01-01")
        assert not Batch.objects.exists()


class TestCreateBatchProgress:
    def test_a_large_batch_shows_a_progress_bar_that_reaches_the_count(self, enrollment_offer):
        err = StringIO()
        call_command(
            "create_batch", "--offer", str(enrollment_offer.pk), "--count", "10000", "--country", "DE",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert "10000/10000" in err.getvalue()

    def test_a_small_batch_shows_none(self, enrollment_offer):
        err = StringIO()
        call_command(
            "create_batch", "--offer", str(enrollment_offer.pk), "--count", "5", "--country", "DE",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
        assert err.getvalue() == ""
