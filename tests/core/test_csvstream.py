"""The one CSV writer every export uses."""

import csv
import io

import pytest

from tessera.core.csvstream import CsvWriter, csv_download


def written(row: list[object]) -> list[str]:
    target = io.StringIO()
    CsvWriter(target).writerow(row)
    return next(csv.reader(io.StringIO(target.getvalue())))


class TestCsvWriter:
    @pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
    def test_text_that_starts_like_a_formula_gets_an_apostrophe(self, cell: str) -> None:
        assert written([cell]) == ["'" + cell]

    def test_other_text_and_numbers_are_written_as_they_are(self) -> None:
        assert written(["spring", "a=b", "", 3, -1]) == ["spring", "a=b", "", "3", "-1"]

    def test_a_download_writes_its_header_and_rows_through_it(self) -> None:
        response = csv_download(["tag"], [["=1+1"]], "x.csv")
        assert b"".join(response.streaming_content).decode().splitlines() == ["tag", "'=1+1"]
