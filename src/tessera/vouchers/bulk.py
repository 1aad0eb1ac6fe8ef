"""Writes many code rows fast, inside the caller's transaction.

PostgreSQL gets COPY (about 15 times faster than INSERTs). SQLite gets one INSERT ... SELECT over
json_each() of the whole chunk, which keeps the per-row work in C: binding a million rows one by
one through executemany costs about twice as long.

Codes come from our own alphabet and the other columns are integers, so both payloads are built
by plain joins without escaping.
"""

from collections.abc import Sequence

from django.db import connection

from tessera.vouchers.models import Code

COLUMNS = "code, batch_id, uses, max_uses"


def codes_insert(*, codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    """Inserts fresh codes with no uses. Sorted input fills the primary-key index in order."""
    if not codes:
        return
    if connection.vendor == "postgresql":
        _copy_postgresql(codes, batch_id, max_uses)
    else:
        _insert_from_json(codes, batch_id, max_uses)


def _copy_postgresql(codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    row_end = f"\t{batch_id}\t0\t{max_uses}\n"
    payload = row_end.join(codes) + row_end
    statement = f"COPY {Code._meta.db_table} ({COLUMNS}) FROM STDIN"
    # The raw psycopg cursor bypasses Django's error translation; wrap_database_errors restores
    # it, so a duplicate code is an IntegrityError that batch_create can retry.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        copy.write(payload)


def _insert_from_json(codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    array = '["' + '","'.join(codes) + '"]'
    statement = f"INSERT INTO {Code._meta.db_table} ({COLUMNS}) SELECT value, %s, 0, %s FROM json_each(%s)"  # noqa: S608 - table name from the model, values bound
    with connection.cursor() as cursor:
        cursor.execute(statement, [batch_id, max_uses, array])
