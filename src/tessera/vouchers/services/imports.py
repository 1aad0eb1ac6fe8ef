"""Importing codes made elsewhere (printed already, or sold by a reseller) as a batch of their own.

An import is a Batch with `imported` set: the settings of a batch (offer, uses per code, expiry,
tag, country, whom it is for, note, refund policy) and one Code row per given code. Only the
codes differ from a generated batch's: they are stored as given, in the form
`codes.imported_key` gives them (upper case, whitespace and dashes dropped, no check symbol),
and redeemed by that text in any case (services.redeem looks a typed code up as a generated
code first and, only if it cannot be one, as an imported code). Imported and generated codes
share the Code table and its primary key, so a code is one row whichever way it came, and
`imported_key` stores a given code that reads as a valid generated one in the generated form,
where the redemption's first lookup finds it.

All or nothing, and nothing until the file is clean: every line is checked first (characters,
length, a code given twice), then the codes are written as a generated batch's are (one COPY on
PostgreSQL, INSERT ... SELECT over json_each on SQLite). A code that is already stored, generated
or imported, makes that write fail on the primary key; only then are the file's codes looked up
to name the clashing lines. So a clean import pays nothing for the check, and a code written by
someone else at the same moment is caught all the same. A file with lines to fix has its codes
looked up at once, so every problem, of whichever kind, is reported in one answer.

Up to MAX_BATCH (a million) codes in one import. The CLI takes them all in one go; the staff
page and the staff API take up to IN_REQUEST_MAX (the most one request writes) and point to the
CLI for more: a queued job would have to keep the whole file until the task worker ran it, and
the CLI imports a million codes in about ten seconds (docs/benchmarks.md section 8).
"""

import csv
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from django.db import IntegrityError, transaction

from tessera.core.errors import InvalidInput
from tessera.vouchers import codes as codebook
from tessera.vouchers.audit import audit_record
from tessera.vouchers.bulk_insert import codes_writer
from tessera.vouchers.errors import CodesRefused, LineProblem
from tessera.vouchers.models import AuditEvent, Batch, Code, Offer
from tessera.vouchers.services.batches import CHUNK, MAX_BATCH, BatchSpec, Progress

# A header a CSV file may start with; its first cell, in any case.
HEADER = "code"
# Codes looked up per query when naming the lines that clash with stored codes.
LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class CodeList:
    """Codes as given, the line each was given on, and where they came from (a file's name)."""

    codes: list[str]
    lines: Sequence[int]
    source: str

    @classmethod
    def numbered(cls, codes: list[str], *, source: str) -> "CodeList":
        """Codes given as a list: each one's line is its place in the list, from 1."""
        return cls(codes=codes, lines=range(1, len(codes) + 1), source=source)


def codes_from_csv(text_lines: Iterable[str], *, source: str, most: int = MAX_BATCH) -> CodeList:
    """The codes of a CSV file: the first cell of each line. Blank lines, and a first line whose
    first cell is "code" (a header), are skipped. More than `most` codes, a line that is not CSV
    or a file that is not UTF-8 is InvalidInput."""
    reader = csv.reader(text_lines)
    codes: list[str] = []
    lines: list[int] = []
    try:
        for row in _without_header(row for row in reader if _has_text(row)):
            codes.append(row[0])
            lines.append(reader.line_num)
            if len(codes) > most:
                raise InvalidInput(_too_many(most), field="codes")
    except csv.Error as error:
        raise InvalidInput(f"Line {reader.line_num} of {source} is not CSV: {error}.", field="codes") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{source} is not UTF-8 text.", field="codes") from None
    return CodeList(codes=codes, lines=lines, source=source)


def _has_text(row: list[str]) -> bool:
    # The first cell first: it holds the code on every line that matters, and a generator per
    # line would cost a second on a million lines.
    return bool(row) and (bool(row[0].strip()) or any(cell.strip() for cell in row))


def _without_header(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    first = next(rows, None)
    if first is None or first[0].strip().lower() == HEADER:
        return rows
    return chain([first], rows)


def _too_many(most: int) -> str:
    if most < MAX_BATCH:
        return (
            f"One request imports up to {most:,} codes; import a larger file with `tessera import-codes` "
            f"(up to {MAX_BATCH:,})."
        )
    return f"One import holds up to {MAX_BATCH:,} codes."


def codes_import(
    *, offer: Offer, codes: CodeList, spec: BatchSpec, actor: str = "system", progress: Progress | None = None
) -> Batch:
    """Imports `codes` for `offer` as one batch with `spec`'s settings (its count is the number
    of codes and it has no prefix), all or nothing. CodesRefused lists the lines to fix: a code
    that is not one, a code given twice, a code already stored."""
    if not codes.codes:
        raise InvalidInput(f"{codes.source} holds no codes.", field="codes")
    if len(codes.codes) > MAX_BATCH:
        raise InvalidInput(_too_many(MAX_BATCH), field="codes")
    spec = dataclasses.replace(spec, count=len(codes.codes), prefix="").checked(offer)
    keys = _keys_checked(codes)
    with transaction.atomic():
        batch = Batch.objects.create(offer=offer, imported=True, created_by=actor[:150], **spec.batch_fields())
        _write(batch, keys, codes, progress)
        audit_record(
            action=AuditEvent.Action.IMPORTED, actor=actor, batch=batch, count=batch.count, source=codes.source
        )
    return batch


def _keys_checked(codes: CodeList) -> list[str]:
    """Each code's stored form (codes.imported_key), or CodesRefused naming every line that is
    not a code, repeats an earlier line's code or holds a code stored already: all of them at
    once, so the file is mended in one go."""
    keys = codebook.imported_keys(codes.codes)
    # A clean file, the usual case, is told at C speed; only a file with problems is gone through line by line.
    if len(set(keys)) == len(keys) and not any(isinstance(key, codebook.InvalidCode) for key in keys):
        return keys  # type: ignore[return-value]  # no InvalidCode among them, as just checked
    problems = _problems(keys, codes)
    raise CodesRefused(problems + _stored_already(_first_of_each(codes)), source=codes.source)


def _problems(keys: list[str | codebook.MalformedCode], codes: CodeList) -> list[LineProblem]:
    first_line: dict[str, int] = {}
    problems: list[LineProblem] = []
    for key, text, line in zip(keys, codes.codes, codes.lines, strict=True):
        if isinstance(key, codebook.InvalidCode):
            problems.append(LineProblem(line=line, code=text, problem=str(key)))
            continue
        earlier = first_line.setdefault(key, line)
        if earlier != line:
            problems.append(LineProblem(line=line, code=text, problem=f"the same code as line {earlier}"))
    return problems


def _first_of_each(codes: CodeList) -> dict[str, tuple[int, str]]:
    """Each code's stored form, with the line and text it was first given on."""
    given: dict[str, tuple[int, str]] = {}
    for key, text, line in zip(codebook.imported_keys(codes.codes), codes.codes, codes.lines, strict=True):
        if isinstance(key, str):
            given.setdefault(key, (line, text))
    return given


def _write(batch: Batch, keys: list[str], codes: CodeList, progress: Progress | None) -> None:
    """Writes the codes in key order (see bulk_insert), or CodesRefused if some are stored already."""
    try:
        with transaction.atomic(), codes_writer(batch_id=batch.pk, max_uses=batch.uses_per_code) as write:
            for chunk in _chunks(sorted(keys), CHUNK):
                write(chunk)
                if progress:
                    progress(len(chunk))
    except IntegrityError:
        clashes = _stored_already(_first_of_each(codes))
        if not clashes:  # not the primary key: some other constraint, no fault of the file's
            raise
        raise CodesRefused(clashes, source=codes.source) from None


def _stored_already(given: dict[str, tuple[int, str]]) -> list[LineProblem]:
    """The lines whose codes are stored already, each naming the batch that holds it."""
    problems = []
    for chunk in _chunks(list(given), LOOKUP_CHUNK):
        for key, batch_id in Code.objects.filter(pk__in=chunk).values_list("pk", "batch_id"):
            line, text = given[key]
            problems.append(LineProblem(line=line, code=text, problem=f"already a code, of batch {batch_id}"))
    return problems


def _chunks(keys: list[str], size: int) -> Iterator[list[str]]:
    return (keys[start : start + size] for start in range(0, len(keys), size))
