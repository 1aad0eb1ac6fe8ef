"""`tessera export`: a batch's or every code as CSV, to a file or the standard output."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.vouchers import codes
from tessera.vouchers.selectors.codes import Status
from tessera.vouchers.selectors.exports import EXPORT_HEADER
from tessera.vouchers.services import voucher_redeem
from tests.conftest import FORMULA_TAG

COLUMN = {name: index for index, name in enumerate(EXPORT_HEADER)}


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as source:
        return list(csv.reader(source))


class TestExportCommand:
    def test_writes_the_header_and_a_row_per_code_to_a_file(self, enrollment_offer, make_batch, tmp_path):
        batch = make_batch(enrollment_offer, count=3)
        target = tmp_path / "codes.csv"
        err = StringIO()
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=err)
        header, *rows = read_csv(target)
        assert tuple(header) == EXPORT_HEADER
        assert len(rows) == 3
        assert {codes.parse(row[0]) for row in rows} == set(batch.codes.values_list("code", flat=True))
        assert f"Wrote 3 rows to {target}" in err.getvalue()

    def test_batch_limits_the_export_to_that_batch(self, enrollment_offer, make_batch, tmp_path):
        make_batch(enrollment_offer, count=2)
        wanted = make_batch(enrollment_offer, count=3)
        target = tmp_path / "batch.csv"
        call_command("export", "--batch", str(wanted.pk), "-o", str(target), stdout=StringIO(), stderr=StringIO())
        _, *rows = read_csv(target)
        assert len(rows) == 3
        assert {row[COLUMN["batch"]] for row in rows} == {str(wanted.pk)}

    def test_redemptions_appear_in_the_file(
        self, enrollment_offer, make_batch, learner, other_learner, running_session, tmp_path
    ):
        batch = make_batch(enrollment_offer, count=1, uses_per_code=2)
        code = batch.codes.get().code
        voucher_redeem(code=code, user=learner, session=running_session)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        target = tmp_path / "redeemed.csv"
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=StringIO())
        _, *rows = read_csv(target)
        assert sorted(row[COLUMN["redeemed_by"]] for row in rows) == ["learner", "other_learner"]
        assert {row[COLUMN["status"]] for row in rows} == {Status.REDEEMED}
        assert {row[COLUMN["where"]] for row in rows} == {"python-2026"}

    def test_an_unknown_batch_is_not_found(self, db, tmp_path):
        with pytest.raises(CommandError, match="not_found"):
            call_command("export", "--batch", "999999", "-o", str(tmp_path / "x.csv"), stdout=StringIO())
        assert not (tmp_path / "x.csv").exists()

    def test_a_shops_formula_tag_is_written_as_text(self, formula_batch, tmp_path):
        target = tmp_path / "codes.csv"
        call_command("export", "--output", str(target), stdout=StringIO(), stderr=StringIO())
        _, row = read_csv(target)
        assert row[COLUMN["tag"]] == "'" + FORMULA_TAG

    def test_without_output_the_csv_goes_to_the_commands_stdout(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=2)
        out = StringIO()
        call_command("export", stdout=out, stderr=StringIO())
        lines = list(csv.reader(StringIO(out.getvalue())))
        assert lines[:1] == [list(EXPORT_HEADER)]
        assert len(lines) == 3
