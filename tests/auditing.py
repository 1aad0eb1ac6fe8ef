"""Reading what a test's changes wrote to the audit log (tessera.vouchers.audit)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Max

from tessera.vouchers.models import AuditEvent


@contextmanager
def audited() -> Iterator[list[AuditEvent]]:
    """The rows written inside the block, oldest first (filled in when the block ends without
    an error, so a `pytest.raises` goes inside it)."""
    before = AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    rows: list[AuditEvent] = []
    yield rows
    rows.extend(AuditEvent.objects.filter(pk__gt=before).order_by("pk"))


def row_text(event: AuditEvent) -> str:
    """Every column of the row as text, to show a secret appears in none of them."""
    return " ".join(
        [str(event.at), event.actor, event.action, event.code, str(event.batch_id), json.dumps(event.detail)]
    )


def raw(sql: str, params: list[object] | None = None) -> None:
    """Runs `sql` in a savepoint, so a refusal leaves the test's transaction usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
