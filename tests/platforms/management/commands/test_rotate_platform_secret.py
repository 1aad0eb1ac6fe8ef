"""`tessera rotate-platform-secret`: a platform's new client secret, printed once; the old secret
gets no more tokens."""

import pytest
from django.core.management.base import CommandError
from django.test import Client

from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited, row_text
from tests.commands import run_command
from tests.platforms.conftest import token_response
from tests.platforms.management.commands.conftest import credentials_printed

pytestmark = pytest.mark.django_db


class TestRotatePlatformSecret:
    def test_prints_a_new_secret_that_gets_tokens_and_the_old_one_gets_none(
        self, client: Client, platform_a: Credentials
    ) -> None:
        out = run_command("rotate_platform_secret", "moodle-a")
        rotated = credentials_printed(out)
        assert rotated.client_id == platform_a.client_id
        assert platform_a.client_secret not in out
        assert rotated.client_secret != platform_a.client_secret
        assert token_response(client, rotated).status_code == 200
        assert token_response(client, platform_a).status_code == 401

    def test_an_unknown_slug_is_not_found(self, platform_a: Credentials) -> None:
        with pytest.raises(CommandError, match=r"^not_found: There is no platform with the slug 'nope'"):
            run_command("rotate_platform_secret", "nope")

    def test_the_audit_row_names_the_command_line_and_neither_secret(self, platform_a: Credentials) -> None:
        with audited() as rows:
            rotated = credentials_printed(run_command("rotate_platform_secret", "moodle-a"))
        [row] = rows
        assert (row.action, row.actor) == (AuditEvent.Action.PLATFORM_SECRET, "cli")
        for secret in (platform_a.client_secret, rotated.client_secret):
            assert secret not in row_text(row)
