"""CSV as Tessera writes it, to a file or as a download: one writer for every export, which
keeps text cells from being read as formulas, and downloads written row by row as the client
reads them, so a million-code export holds one chunk of rows in memory, not the file."""

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from django.http import StreamingHttpResponse

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection"):
# `=HYPERLINK(...)` in a shop's tag would become a link in the staff's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Target(Protocol):
    def write(self, text: str, /) -> Any: ...


class CsvWriter:
    """csv.writer, with every text cell that starts like a formula given a leading apostrophe,
    which spreadsheets show as text and do not display. Numbers are Tessera's own and pass as
    they are."""

    def __init__(self, target: Target) -> None:
        self._writer = csv.writer(target)

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow([as_text_cell(cell) for cell in row])


def as_text_cell(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


class _Line:
    """A file-like that hands back what the csv writer writes, so rows stream one by one."""

    def write(self, text: str) -> str:
        return text


def csv_download(header: Sequence[object], rows: Iterable[Sequence[object]], filename: str) -> StreamingHttpResponse:
    writer = CsvWriter(_Line())
    lines = (writer.writerow(row) for row in _with_header(header, rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_header(header: Sequence[object], rows: Iterable[Sequence[object]]) -> Iterator[Sequence[object]]:
    yield header
    yield from rows
