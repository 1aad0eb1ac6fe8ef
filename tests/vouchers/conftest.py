"""What the voucher tests share: one row of the audit log."""

import pytest

from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent


@pytest.fixture
def event(db: None) -> AuditEvent:
    """One audit row, as audit_record writes it: "created" by cli, with a count of 3."""
    return audit_record(action=AuditEvent.Action.CREATED, actor="cli", count=3)
