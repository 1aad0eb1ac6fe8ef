"""Platform API tokens issued (shown once) and revoked (tessera.api.services), each one audit row."""

import re

import pytest
from django.db import DatabaseError

from tessera.api.models import ApiToken
from tessera.api.selectors import user_for_token
from tessera.api.services import api_token_issue, api_token_revoke
from tessera.core.errors import InvalidInput
from tessera.core.tokens import token_digest
from tessera.vouchers.models import AuditEvent
from tests.auditing import audited

Action = AuditEvent.Action


class TestApiTokenIssue:
    def test_the_token_is_shown_once_and_stored_as_its_digest_and_prefix(self, learner):
        token, plaintext = api_token_issue(user=learner, label="lms")
        assert re.fullmatch(r"tsr_[A-Za-z0-9_-]{43}", plaintext)
        stored = ApiToken.objects.get()
        assert (stored, stored.user, stored.label, stored.prefix) == (token, learner, "lms", plaintext[:8])
        assert stored.digest == token_digest(plaintext) != plaintext

    def test_each_token_is_new(self, learner):
        assert api_token_issue(user=learner)[1] != api_token_issue(user=learner)[1]

    def test_a_label_longer_than_its_column_is_refused_and_nothing_is_issued(self, learner):
        with pytest.raises(InvalidInput) as refused:
            api_token_issue(user=learner, label="x" * 1000)
        assert refused.value.field == "label"
        assert not ApiToken.objects.exists()

    def test_an_audit_row_that_cannot_be_written_leaves_no_token(self, learner, monkeypatch):
        def audit_fails(**kwargs: object) -> None:
            raise DatabaseError("the audit log refused the row")

        monkeypatch.setattr("tessera.api.services.audit_record", audit_fails)
        with pytest.raises(DatabaseError):
            api_token_issue(user=learner, actor="cli")
        assert not ApiToken.objects.exists()


class TestApiTokenRevoke:
    def test_revoking_stops_the_token_and_is_one_audit_row(self, learner):
        token, plaintext = api_token_issue(user=learner)
        with audited() as rows:
            api_token_revoke(token=token, actor="user:7")
        assert user_for_token(plaintext) is None
        assert [(row.action, row.actor, row.detail) for row in rows] == [
            (Action.TOKEN_REVOKED, "user:7", {"kind": "api_token", "token_id": token.pk, "user_id": learner.pk})
        ]

    def test_revoking_again_changes_nothing_and_logs_nothing(self, learner):
        token, _ = api_token_issue(user=learner)
        api_token_revoke(token=token)
        revoked_at = ApiToken.objects.get().revoked_at
        with audited() as rows:
            api_token_revoke(token=token)
        assert rows == []
        assert ApiToken.objects.get().revoked_at == revoked_at
