"""`tessera create-api-token`: a platform API token acting as a user, printed once; its issue is in
the audit log."""

import pytest
from django.core.management.base import CommandError

from tessera.api.models import ApiToken
from tessera.vouchers.models import AuditEvent
from tests.api.conftest import MINE, TOKEN, issued_and_revoked
from tests.auditing import audited, row_text
from tests.commands import run_command

Action = AuditEvent.Action


class TestCreateApiToken:
    def test_create_api_token_prints_a_working_token_once(self, client, learner):
        token = TOKEN.search(run_command("create_api_token", "learner", "--label", "lms"))[0]
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        stored = ApiToken.objects.get()
        assert (stored.label, stored.prefix) == ("lms", token[:8])
        assert token not in {stored.digest, stored.prefix}

    def test_an_unknown_user_gets_no_token(self, db):
        with pytest.raises(CommandError, match="invalid_input"):
            run_command("create_api_token", "nobody")
        assert not ApiToken.objects.exists()


class TestTheAuditLog:
    def test_the_token_issued_is_one_row_under_cli_naming_it_and_its_user_by_id(self, learner):
        with audited() as rows:
            token = TOKEN.search(run_command("create_api_token", "learner", "--label", "lms"))[0]
        stored = ApiToken.objects.get()
        assert issued_and_revoked(rows) == [(Action.TOKEN_ISSUED, "cli", stored.pk)]
        assert rows[0].detail == {"kind": "api_token", "token_id": stored.pk, "user_id": learner.pk}
        assert token[:8] not in row_text(rows[0])
        assert "learner" not in row_text(rows[0])

    def test_an_unknown_user_logs_nothing(self, db):
        with audited() as rows, pytest.raises(CommandError, match="invalid_input"):
            run_command("create_api_token", "nobody")
        assert rows == []
