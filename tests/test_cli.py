"""The `tessera` console script (tessera.cli): dashed command names, and exits with a refusal's code."""

from datetime import UTC, datetime, timedelta

import pytest

from tessera.cli import main
from tessera.vouchers.models import Batch, Offer


@pytest.fixture
def console(settings):
    """tessera.cli.main runs django.setup() again; keep it from rewiring logging to captured streams."""
    settings.LOGGING_CONFIG = None
    return main


class TestConsoleScript:
    def test_a_dashed_command_runs_the_underscored_one(self, console, capsys):
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "create-batch", "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert "Create a batch of codes" in out
        assert "--print-codes" in out

    def test_help_on_a_dashed_command_shows_that_command(self, console, capsys):
        console(["tessera", "help", "create-batch"])
        out = capsys.readouterr().out
        assert "Create a batch of codes" in out
        assert "--print-codes" in out

    def test_vouchers_off_exits_with_the_disabled_message(self, console, capsys, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "stats"])
        assert exited.value.code == 1
        assert "disabled" in capsys.readouterr().err

    @pytest.mark.django_db(transaction=True)
    def test_create_offer_through_the_console_script(self, console, capsys, running_session):
        console(["tessera", "create-offer", "--name", "Console", "--product", "enrollment",
                 "--session", running_session.slug])  # fmt: skip
        offer = Offer.objects.get()
        assert f"Created offer {offer.pk}" in capsys.readouterr().out
        assert (offer.name, offer.session_id) == ("Console", running_session.pk)

    @pytest.mark.django_db(transaction=True)
    def test_a_domain_error_exits_with_its_code(self, console, capsys, running_session):
        offer = Offer.objects.create(name="Ended", product="enrollment", session=running_session,
                                     sale_ends_at=datetime.now(UTC) - timedelta(days=1))  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            console(["tessera", "create-batch", "--offer", str(offer.pk), "--count", "1", "--country", "DE"])
        assert exited.value.code == 1
        assert "invalid_input" in capsys.readouterr().err
        assert not Batch.objects.exists()
