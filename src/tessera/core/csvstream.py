"""CSV answers written row by row as the client reads them, so a million-code export holds one
chunk of rows in memory, not the file."""

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse


class _Line:
    """A file-like that hands back what the csv writer writes, so rows stream one by one."""

    def write(self, text: str) -> str:
        return text


def csv_download(header: Sequence[object], rows: Iterable[Sequence[object]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Line())
    lines = (writer.writerow(row) for row in _with_header(header, rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_header(header: Sequence[object], rows: Iterable[Sequence[object]]) -> Iterator[Sequence[object]]:
    yield header
    yield from rows
