"""codes_writer (COPY on PostgreSQL, INSERT ... SELECT on SQLite; docs/architecture.md, "Where
Tessera writes SQL by hand") writes the rows bulk_create writes, every column and default
included."""

from tessera.vouchers import codes as codebook
from tessera.vouchers.bulk_insert import codes_writer
from tessera.vouchers.models import Code
from tests.rows import columns_of, rolled_back


def test_writes_the_rows_bulk_create_writes(make_batch, enrollment_offer):
    batch = make_batch(enrollment_offer, count=1, uses_per_code=3)
    fresh = sorted(codebook.generate(120))

    def written() -> list[dict | None]:
        return [columns_of(code) for code in Code.objects.filter(code__in=fresh).order_by("code")]

    def by_hand() -> list[dict | None]:
        with codes_writer(batch_id=batch.pk, max_uses=3) as write:
            for chunk in (fresh[:50], [], fresh[50:]):
                write(chunk)
        return written()

    def by_orm() -> list[dict | None]:
        # Only what codes_writer is told; every other column is the model's default.
        Code.objects.bulk_create(Code(code=code, batch_id=batch.pk, max_uses=3) for code in fresh)
        return written()

    rows = rolled_back(by_hand)
    assert rows == rolled_back(by_orm)
    assert len(rows) == len(fresh)
    assert {(row["uses"], row["revoked_at"]) for row in rows if row} == {(0, None)}
