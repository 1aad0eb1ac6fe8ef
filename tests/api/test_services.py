"""Platform API tokens issued and revoked (tessera.api.services)."""

import pytest
from django.db import DatabaseError

from tessera.api.models import ApiToken
from tessera.api.services import api_token_issue
from tessera.vouchers.models import AuditEvent

Action = AuditEvent.Action


class TestApiTokenIssue:
    def test_an_audit_row_that_cannot_be_written_leaves_no_token(self, learner, monkeypatch):
        def audit_fails(**kwargs: object) -> None:
            raise DatabaseError("the audit log refused the row")

        monkeypatch.setattr("tessera.api.services.audit_record", audit_fails)
        with pytest.raises(DatabaseError):
            api_token_issue(user=learner, actor="cli")
        assert not ApiToken.objects.exists()
