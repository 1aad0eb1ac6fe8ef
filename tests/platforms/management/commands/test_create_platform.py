"""`tessera create-platform`: a course platform registered as an OAuth client, its client id and
secret printed (the secret only then), its scopes those named or all, one audit row."""

import pytest
from django.core.management.base import CommandError
from django.test import Client
from oauth2_provider.models import Application

from tessera.platforms.models import SCOPES, Platform
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.platforms.conftest import token_response
from tests.platforms.management.commands.conftest import credentials_printed

pytestmark = pytest.mark.django_db


class TestCreatePlatform:
    def test_prints_a_client_id_and_secret_that_get_a_token_with_the_scopes_named(self, client: Client) -> None:
        out = run_command("create_platform", "Canvas U", "--scope", "redeem", "--scope", "events",
                          "--return-url", "https://canvas.example/")  # fmt: skip
        credentials = credentials_printed(out)
        assert out.startswith("Created platform 'Canvas U' (canvas-u).\n")
        platform = credentials.platform
        assert (platform.scope_set, platform.return_urls) == ({"redeem", "events"}, "https://canvas.example/")
        response = token_response(client, credentials)
        assert response.status_code == 200
        assert set(response.json()["scope"].split()) == {"redeem", "events"}

    def test_keeps_the_secret_only_hashed(self) -> None:
        credentials = credentials_printed(run_command("create_platform", "Canvas U"))
        stored = Application.objects.get(pk=credentials.platform.application_id).client_secret
        assert credentials.client_secret not in stored

    def test_without_a_scope_grants_them_all_and_makes_the_slug_from_the_name(self) -> None:
        platform = credentials_printed(run_command("create_platform", "Canvas U")).platform
        assert (platform.slug, platform.scope_set) == ("canvas-u", set(SCOPES))

    def test_takes_the_slug_given(self) -> None:
        platform = credentials_printed(run_command("create_platform", "Canvas U", "--slug", "cu")).platform
        assert platform.slug == "cu"

    def test_a_scope_tessera_does_not_know_is_refused_and_nothing_is_made(self) -> None:
        with pytest.raises(CommandError, match="invalid choice: 'admin'"):
            run_command("create_platform", "Canvas U", "--scope", "admin")
        assert not Platform.objects.exists()

    def test_a_name_taken_is_invalid_input(self) -> None:
        run_command("create_platform", "Canvas U")
        with pytest.raises(CommandError, match=r"^invalid_input: .*named"):
            run_command("create_platform", "Canvas U", "--slug", "other")
        assert Platform.objects.count() == 1

    def test_the_audit_row_names_the_command_line_and_not_the_secret(self) -> None:
        with audited() as rows:
            credentials = credentials_printed(run_command("create_platform", "Canvas U"))
        [row] = rows
        assert (row.action, row.actor) == (AuditEvent.Action.PLATFORM_CREATED, "cli")
        assert row.detail["platform_id"] == credentials.platform.pk
        assert credentials.client_secret not in row_text(row)
