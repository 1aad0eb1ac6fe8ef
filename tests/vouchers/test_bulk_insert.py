"""Many code rows written fast inside the caller's transaction (tessera.vouchers.bulk_insert): COPY
on PostgreSQL, INSERT ... SELECT over json_each on SQLite; the same rows either way."""

import pytest
from django.db import IntegrityError, transaction

from tessera.vouchers import codes as codebook
from tessera.vouchers.bulk_insert import codes_writer
from tessera.vouchers.models import Batch, Code
from tests.rows import columns_of, rolled_back


@pytest.fixture
def batch(enrollment_offer) -> Batch:
    """A batch row without codes yet, as batch_create makes it before writing them."""
    return Batch.objects.create(offer=enrollment_offer, count=3, uses_per_code=2, country="DE")


class TestCodesWriter:
    def test_each_chunk_becomes_fresh_codes_of_the_batch(self, batch):
        with transaction.atomic(), codes_writer(batch_id=batch.pk, max_uses=2) as write:
            write(["AAAA0", "BBBB1"])
            write([])  # an empty chunk writes nothing
            write(["CCCC2"])
        rows = Code.objects.order_by("code").values_list("code", "batch_id", "uses", "max_uses", "revoked_at")
        assert list(rows) == [
            ("AAAA0", batch.pk, 0, 2, None), ("BBBB1", batch.pk, 0, 2, None), ("CCCC2", batch.pk, 0, 2, None),
        ]  # fmt: skip

    def test_a_code_that_exists_already_is_an_integrity_error(self, batch):
        Code.objects.create(code="AAAA0", batch=batch, max_uses=2)
        with pytest.raises(IntegrityError), transaction.atomic(), codes_writer(batch_id=batch.pk, max_uses=2) as write:
            write(["BBBB1", "AAAA0"])
        assert list(Code.objects.values_list("code", flat=True)) == ["AAAA0"]

    def test_a_rolled_back_transaction_leaves_no_code(self, batch):
        with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
            with codes_writer(batch_id=batch.pk, max_uses=1) as write:
                write(["AAAA0"])
            raise RuntimeError("the caller's transaction fails after the write")
        assert not Code.objects.exists()


# codes_writer (COPY on PostgreSQL, INSERT ... SELECT on SQLite; docs/architecture.md, "Where
# Tessera writes SQL by hand") writes the rows bulk_create writes, every column and default
# included.


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
