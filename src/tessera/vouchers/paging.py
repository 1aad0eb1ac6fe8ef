"""A batch's codes a page at a time, for the staff batch page.

Keyset pages in code order over the (batch_id, code) index, never OFFSET: the last page of a
million-code batch costs what the first does. A search is a code prefix, read as a range of that
index: codes hold only digits and capitals, and in SQLite's binary order and PostgreSQL's usual
collations (C, libc or ICU locales) those sort as in ASCII, with a shorter prefix first, so the
range from the prefix to the prefix followed by "Z"s holds exactly the codes that start with it.
(An ICU collation with numeric ordering, "kn-true", would break that; Tessera does not create one.)
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum

from tessera.core.errors import InvalidInput
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Batch, Code
from tessera.vouchers.selectors.codes import code_status, display_code

PAGE_SIZE = 50
USED = "used"
UNUSED = "unused"
USE_FILTERS = {USED: Q(uses__gt=0), UNUSED: Q(uses=0)}
# Any stored code: imported codes hold every capital letter, generated ones a subset.
_CURSOR = re.compile(f"[0-9A-Z]{{1,{codebook.MAX_TOTAL}}}")


@dataclass(frozen=True)
class CodeRow:
    code: str
    display: str
    status: str
    uses: int
    max_uses: int


@dataclass(frozen=True)
class CodePage:
    rows: list[CodeRow]
    after: str | None  # the cursor of the next page, if there is one
    before: str | None  # the cursor of the previous page, if there is one


@dataclass(frozen=True)
class BatchTotals:
    codes: int
    used: int
    uses: int


def search_prefix(text: str, *, imported: bool = False) -> str:
    """The normalised start of a code as typed (dashes, spaces, case and look-alikes forgiven;
    look-alikes not, in a batch of `imported` codes, whose O is not 0), or InvalidInput when it
    holds a symbol no code has."""
    normalize = codebook.normalize_imported if imported else codebook.normalize
    try:
        normalized = normalize(text[: codebook.MAX_TOTAL * 2])
    except codebook.MalformedCode as error:
        raise InvalidInput(str(error), field="q") from None
    return normalized[: codebook.MAX_TOTAL]


def cursor(text: str) -> str:
    """A page cursor as sent back by the browser: a stored code, or "" (the first page) for
    anything else, so nothing odd (NUL, say) reaches the database."""
    return text if _CURSOR.fullmatch(text) else ""


def batch_code_page(
    batch: Batch, *, now: datetime, search: str = "", uses: str = "", after: str = "", before: str = ""
) -> CodePage:
    """One page of the batch's codes matching `search` (a prefix, see search_prefix) and `uses`
    ("used", "unused" or "" for all), after or before a cursor."""
    codes = _matching(batch, search, uses)
    if before:
        found = list(codes.filter(code__lt=before).order_by("-code")[: PAGE_SIZE + 1])
        more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE][::-1]
        later = bool(found and codes.filter(code__gt=found[-1].code).exists())
        next_cursor, previous_cursor = (found[-1].code if later else None), (found[0].code if more else None)
    else:
        found = list(codes.filter(code__gt=after).order_by("code")[: PAGE_SIZE + 1])
        more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
        next_cursor = found[-1].code if more else None
        earlier = bool(after and found and codes.filter(code__lt=found[0].code).exists())
        previous_cursor = found[0].code if earlier else None
    return CodePage(rows=[_row(code, batch, now) for code in found], after=next_cursor, before=previous_cursor)


def batch_totals(batch: Batch) -> BatchTotals:
    """Codes, codes used at least once, and uses spent; read from the index of used codes."""
    used = Code.objects.filter(batch=batch, uses__gt=0).aggregate(codes=Count("pk"), uses=Sum("uses"))
    return BatchTotals(codes=batch.count, used=used["codes"] or 0, uses=used["uses"] or 0)


def _matching(batch: Batch, search: str, uses: str) -> QuerySet[Code]:
    codes = Code.objects.filter(batch=batch).only("code", "uses", "max_uses", "revoked_at")
    if search:
        codes = codes.filter(code__gte=search, code__lte=search + "Z" * (codebook.MAX_TOTAL - len(search)))
    if uses in USE_FILTERS:
        codes = codes.filter(USE_FILTERS[uses])
    return codes


def _row(code: Code, batch: Batch, now: datetime) -> CodeRow:
    revoked = code.revoked_at is not None or batch.revoked_at is not None
    status = code_status(uses=code.uses, max_uses=code.max_uses, revoked=revoked, expires_at=batch.expires_at, now=now)
    return CodeRow(
        code=code.code, display=display_code(code.code, batch.prefix, imported=batch.imported), status=status,
        uses=code.uses, max_uses=code.max_uses,
    )  # fmt: skip
