"""Writes many code rows fast, inside the caller's transaction.

PostgreSQL gets COPY (about 15 times faster than INSERTs); SQLite gets one prepared INSERT run by
executemany over keys sorted so the primary-key B-tree is filled in order.
"""

from collections.abc import Sequence

from django.db import connection

from tessera.vouchers.models import Code

COLUMNS = ("code", "batch_id", "uses", "max_uses")


def codes_insert(*, codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    if not codes:
        return
    if connection.vendor == "postgresql":
        _copy_postgresql(codes, batch_id, max_uses)
    else:
        _executemany(codes, batch_id, max_uses)


def _copy_postgresql(codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    # Codes are from our own alphabet and the other columns are integers, so the text COPY
    # format needs no escaping; one C-level join builds the whole payload.
    row_end = f"\t{batch_id}\t0\t{max_uses}\n"
    payload = row_end.join(codes) + row_end
    statement = f"COPY {Code._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(payload)


def _executemany(codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    statement = f"INSERT INTO {Code._meta.db_table} ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - names from the model, values bound
    with connection.cursor() as cursor:
        cursor.executemany(statement, [(code, batch_id, 0, max_uses) for code in sorted(codes)])
