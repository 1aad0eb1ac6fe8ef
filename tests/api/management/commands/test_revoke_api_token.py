"""`tessera revoke-api-token`: a token by its prefix, or every token of a user; a prefix two tokens
share revokes none. Each revocation is one audit row."""

import pytest
from django.core.management.base import CommandError

from tessera.api.models import ApiToken
from tessera.vouchers.models import AuditEvent
from tests.api.conftest import MINE, TOKEN, issued_and_revoked
from tests.auditing import audited, row_text
from tests.commands import run_command

Action = AuditEvent.Action


class TestRevokeApiToken:
    def test_revoke_by_prefix_stops_only_that_token(self, client, learner):
        first = TOKEN.search(run_command("create_api_token", "learner"))[0]
        second = TOKEN.search(run_command("create_api_token", "learner"))[0]
        run_command("revoke_api_token", first[:8])
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 401
        assert client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200

    def test_revoke_every_token_of_a_user(self, client, learner):
        tokens = [TOKEN.search(run_command("create_api_token", "learner"))[0] for _ in range(2)]
        assert "Revoked 2" in run_command("revoke_api_token", "--user", "learner")
        assert all(client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {t}").status_code == 401 for t in tokens)

    def test_a_prefix_shared_by_live_tokens_revokes_none_and_names_their_users(self, client, learner, other_learner):
        mine = TOKEN.search(run_command("create_api_token", "learner"))[0]
        theirs = TOKEN.search(run_command("create_api_token", "other_learner"))[0]
        ApiToken.objects.update(prefix=mine[:8])  # as if the random characters had collided
        with pytest.raises(CommandError, match=rf"^invalid_input: 2 tokens begin with {mine[:8]};") as refused:
            run_command("revoke_api_token", mine[:8])
        assert "learner, other_learner" in str(refused.value)
        assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
        assert all(client.get(MINE, HTTP_AUTHORIZATION=f"Bearer {t}").status_code == 200 for t in (mine, theirs))

    def test_revoking_nothing_is_an_error(self, db):
        with pytest.raises(CommandError, match="not_found"):
            run_command("revoke_api_token", "tsr_zzzz")


class TestTheAuditLog:
    def test_a_token_revoked_is_one_row_under_cli_naming_it_and_its_user_by_id(self, learner):
        token = TOKEN.search(run_command("create_api_token", "learner", "--label", "lms"))[0]
        with audited() as rows:
            run_command("revoke_api_token", token[:8])
        stored = ApiToken.objects.get()
        assert issued_and_revoked(rows) == [(Action.TOKEN_REVOKED, "cli", stored.pk)]
        assert rows[0].detail == {"kind": "api_token", "token_id": stored.pk, "user_id": learner.pk}
        assert token[:8] not in row_text(rows[0])
        assert "learner" not in row_text(rows[0])

    def test_revoking_a_users_tokens_is_one_row_each(self, learner):
        run_command("create_api_token", "learner")
        run_command("create_api_token", "learner")
        with audited() as rows:
            run_command("revoke_api_token", "--user", "learner")
        assert sorted(issued_and_revoked(rows)) == [
            (Action.TOKEN_REVOKED, "cli", t.pk) for t in ApiToken.objects.order_by("pk")
        ]

    def test_a_shared_prefix_logs_nothing(self, learner, other_learner):
        mine = TOKEN.search(run_command("create_api_token", "learner"))[0]
        run_command("create_api_token", "other_learner")
        ApiToken.objects.update(prefix=mine[:8])  # as if the random characters had collided
        with audited() as rows, pytest.raises(CommandError, match=r"^invalid_input: 2 tokens"):
            run_command("revoke_api_token", mine[:8])
        assert rows == []
