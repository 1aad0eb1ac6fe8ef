"""The CSV export of codes: its header, the batches it covers and its rows, streamed."""

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from tessera.vouchers.models import Batch, Code
from tessera.vouchers.selectors.codes import code_status, display_code

EXPORT_HEADER = (
    "code", "batch", "offer", "product", "tag", "uses", "max_uses", "status", "expires",
    "redeemed_by", "redeemed_at", "where",
)  # fmt: skip


def batches_for_export(*, batch: Batch | None = None, offer_id: int | None = None) -> QuerySet[Batch]:
    batches = Batch.objects.all()
    if batch is not None:
        batches = batches.filter(pk=batch.pk)
    if offer_id is not None:
        batches = batches.filter(offer_id=offer_id)
    return batches.order_by("pk")


EXPORT_COLUMNS = (
    "code", "batch__prefix", "batch__imported", "batch_id", "batch__offer__name", "batch__offer__product", "batch__tag",
    "uses", "max_uses", "revoked_at", "batch__revoked_at", "batch__expires_at",
    "redemptions__user__username", "redemptions__redeemed_at", "redemptions__session__slug",
    "redemptions__reversed_at", "redemptions__assessment__slug",
)  # fmt: skip


def export_rows(batches: QuerySet[Batch], *, chunk_size: int = 5000) -> Iterator[tuple[object, ...]]:
    """One row per code and redemption (a code never redeemed has one row with empty redeemer),
    batch by batch, each in code order.

    Streams, so memory stays flat whatever the number of codes and the first rows go out at
    once: one batch at a time, read in the order of the (batch_id, code) index (one query over
    several batches is sorted whole before its first row). On PostgreSQL each batch is read
    inside a transaction: outside one, Django declares its server-side cursor WITH HOLD, and
    PostgreSQL computes every row of such a cursor before handing out the first (0.7 s for a
    million-code batch; docs/benchmarks.md section 4). Not on SQLite, where a transaction
    would hold the one write lock for the whole download.
    """
    now = timezone.now()
    for batch_id in batches.values_list("pk", flat=True):
        with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
            codes = Code.objects.filter(batch_id=batch_id).order_by("code").values_list(*EXPORT_COLUMNS)
            for row in codes.iterator(chunk_size=chunk_size):
                yield _export_row(row, now)


def _export_row(row: tuple[Any, ...], now: datetime) -> tuple[object, ...]:
    (code, prefix, imported, batch_id, offer, product, tag, uses, max_uses, revoked, batch_revoked, expires,
     user, at, where, reversed_at, assessment) = row  # fmt: skip
    status = code_status(
        uses=uses, max_uses=max_uses, revoked=bool(revoked or batch_revoked), expires_at=expires, now=now
    )
    redeemed_by = f"{user} (reversed)" if reversed_at else (user or "")
    return (
        display_code(code, prefix, imported=imported), batch_id, offer, product, tag, uses, max_uses, status,
        _iso(expires), redeemed_by, _iso(at), where or (f"assessment:{assessment}" if assessment else ""),
    )  # fmt: skip


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
