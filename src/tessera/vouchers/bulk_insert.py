"""Writes many code rows fast, inside the caller's transaction.

PostgreSQL gets one COPY for the whole batch, fed chunk by chunk (about 15 times faster than
INSERTs, and one COPY rather than one a chunk saves a further ~10%). SQLite gets an
INSERT ... SELECT over json_each() of each chunk, which keeps the per-row work in C: binding a
million rows one by one through executemany costs about twice as long.

Codes hold only digits and capital letters (generated ones from our alphabet, imported ones as
codes.imported_key lets them in) and the other columns are integers, so both payloads are built
by plain joins without escaping. Sorted input fills the primary-key index in order.

Measured against the ORM: batch_create of a million codes took 1/16 (SQLite) and 1/8 (PostgreSQL)
of Code.objects.bulk_create's time (docs/benchmarks.md section 1); writing 50,000 codes, 1/10 and
1/4.5 (section 5). tests/vouchers/test_bulk_insert.py holds the rows to bulk_create's, every model
default included: a column left out here takes the database's default, not the model's.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection

from tessera.vouchers.models import Code

COLUMNS = "code, batch_id, uses, max_uses"

Write = Callable[[Sequence[str]], None]


@contextmanager
def codes_writer(*, batch_id: int, max_uses: int) -> Iterator[Write]:
    """Yields a function that writes a chunk of fresh codes (no uses) of one batch, generated or
    imported."""
    if connection.vendor == "postgresql":
        with _copy_postgresql(batch_id, max_uses) as write:
            yield write
    else:
        yield lambda codes: _insert_from_json(codes, batch_id, max_uses)


@contextmanager
def _copy_postgresql(batch_id: int, max_uses: int) -> Iterator[Write]:
    row_end = f"\t{batch_id}\t0\t{max_uses}\n"
    statement = f"COPY {Code._meta.db_table} ({COLUMNS}) FROM STDIN"
    # The raw psycopg cursor bypasses Django's error translation; wrap_database_errors restores
    # it, so a duplicate code is an IntegrityError that batch_create can retry.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        yield lambda codes: copy.write(row_end.join(codes) + row_end) if codes else None


def _insert_from_json(codes: Sequence[str], batch_id: int, max_uses: int) -> None:
    if not codes:
        return
    array = '["' + '","'.join(codes) + '"]'
    statement = f"INSERT INTO {Code._meta.db_table} ({COLUMNS}) SELECT value, %s, 0, %s FROM json_each(%s)"  # noqa: S608 - table name from the model, values bound
    with connection.cursor() as cursor:
        cursor.execute(statement, [batch_id, max_uses, array])
