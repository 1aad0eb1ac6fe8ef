"""The Xikolo shop bridge's wire format: reading its parameters, writing its vouchers.

Shops written for Xikolo send form-encoded or JSON bodies, numbers as strings, and expect
Xikolo's product names, field order and ISO 8601 times with milliseconds in UTC. Xikolo is a Rails
application, so the wire is also what Rails makes of a request and an answer: parameters from the
query string and the body in one, compact JSON naming its charset, will_paginate's page numbers.
"""

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.http import HttpRequest, JsonResponse

from tessera.core.errors import InvalidInput
from tessera.core.geoip import geoip
from tessera.vouchers.models import Product, Redemption
from tessera.vouchers.selectors.codes import display_code

# Xikolo's product names where one exists; enrollment and assessment are Tessera's own.
WIRE_PRODUCTS = {
    "course_reactivation": Product.REACTIVATION,
    "proctoring_smowl": Product.PROCTORING,
    "course_enrollment": Product.ENROLLMENT,
    "assessment": Product.ASSESSMENT,
}
PRODUCT_ON_WIRE: dict[str, str] = {str(product): wire for wire, product in WIRE_PRODUCTS.items()}
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")  # in a str from JSON, every surrogate is a lone one
MAX_DIGITS = 20  # a count longer than this is past every limit; see ruby_integer
UNKNOWN_COUNTRY = "AAA"  # what Xikolo answers when it cannot place a claimant's address
BIGINT = 2**63 - 1  # will_paginate refuses a page whose offset is past this: no SQL OFFSET takes it
JSON_TYPE = "application/json; charset=utf-8"  # Rails names the charset of every answer it renders
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
# Xikolo's answer to a page below 1 (its error page for every 404, in JSON).
PAGE_NOT_FOUND_TITLE = "We are sorry, but the page you are looking for could not be found (404)"
PAGE_NOT_FOUND_DETAIL = (
    "Please check the URL. If you really think this is a bug, feel free to contact our support team through the "
    "helpdesk."
)


def answer(data: Any, *, status: int = 200, content_type: str = JSON_TYPE) -> JsonResponse:
    """A bridge answer as Rails renders JSON: without spaces, and the charset named."""
    return JsonResponse(
        data, status=status, safe=False, content_type=content_type, json_dumps_params={"separators": (",", ":")}
    )


def voucher(*, code: str, prefix: str, country: str, product: str, tag: str, created_at: datetime) -> dict[str, Any]:
    """A voucher as Xikolo's bridge shows it, in every answer that lists one."""
    return {
        "id": display_code(code, prefix), "country": country, "product": PRODUCT_ON_WIRE[product], "tag": tag,
        "created_at": wire_time(created_at),
    }  # fmt: skip


def claim_place(redemption: Redemption) -> dict[str, str | None]:
    """Where a voucher was claimed, as the bridge names it: the course session and its course
    (Xikolo's words), or, a Tessera extension, the assessment by its slug (course_session then
    null, course the assessment's course or null). Session and assessment loaded with courses."""
    if redemption.session is not None:
        return {"course_session": redemption.session.slug, "course": redemption.session.course.slug}
    assessment = redemption.assessment
    course = assessment.course if assessment is not None else None
    return {
        "course_session": None, "course": course.slug if course else None,
        "assessment": assessment.slug if assessment else None,
    }  # fmt: skip


def claimant_country(address: str | None) -> str:
    """The country of a redeeming learner's address, as the GeoIP database places it."""
    return geoip().country(address) or UNKNOWN_COUNTRY


class WireErrors(Exception):
    """Field errors in Xikolo's shape: {"errors": {field: [word, ...]}}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class PageNotFound(Exception):
    """A page below 1, or one whose offset no database takes: will_paginate's InvalidPage, a 404."""


def request_params(request: HttpRequest) -> dict[str, Any]:
    """The body's parameters, JSON or form-encoded, and the query string's, as one flat dict. As in
    Rails (request_parameters.merge(query_parameters)), the query string wins where both name a key."""
    query = {key: request.GET.get(key) for key in request.GET}
    return _storable({**_body_params(request), **query})


def _body_params(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        return {key: request.POST.get(key) for key in request.POST}
    try:
        body = json.loads(request.body or b"{}", parse_constant=_not_a_number, parse_float=_finite)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to read
        raise WireErrors({"base": ["invalid JSON"]}) from None
    if not isinstance(body, dict):
        raise WireErrors({"base": ["invalid JSON"]})
    return body


def _not_a_number(word: str) -> float:
    raise ValueError(f"{word} is not JSON")  # Python reads NaN and Infinity; RFC 8259 has neither


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 reads as infinity
        raise ValueError(f"{text} is too large")
    return number


def _storable(params: dict[str, Any]) -> dict[str, Any]:
    """Text no database can store or match is refused: NUL (PostgreSQL text cannot hold it) and
    lone surrogates, which JSON can escape ("\\ud800") but UTF-8 cannot encode."""
    refused = {key: ["invalid"] for key, value in params.items() if not _storable_text(value)}
    if refused:
        raise WireErrors(refused)
    return params


def _storable_text(value: object) -> bool:
    return not isinstance(value, str) or ("\x00" not in value and not LONE_SURROGATE.search(value))


def query_text(value: str | None, field: str) -> str | None:
    """A query parameter's text, or None; NUL is refused as in bodies."""
    if value and "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character.", field=field)
    return value or None


def ruby_integer(value: object) -> int:
    """Reads a count as Xikolo does ("5" → 5, "2.7" → 2, "abc" or nothing → 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    match = re.match(r"\s*([+-]?)0*(\d+)", str(value or ""))
    if not match:
        return 0
    sign, digits = match.groups()
    # Python reads at most 4300 digits; a count that long is past every limit whatever it says.
    number = int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS
    return -number if sign == "-" else number


# Ruby's Integer(text): an optional sign, a radix prefix (0x, 0b, 0o or 0d; a bare leading 0 is
# octal), digits with single underscores between them, whitespace around.
RUBY_INTEGER = re.compile(r"([+-]?)(0[xbod]|0_?|)([0-9a-z]+(?:_[0-9a-z]+)*)", re.IGNORECASE)
RUBY_RADIX = {"0x": 16, "0b": 2, "0o": 8, "0d": 10, "0": 8, "0_": 8, "": 10}


def ruby_strict_integer(value: str) -> int | None:
    """Reads a number as Ruby's Integer() does ("010" → 8, "0x1f" → 31), or None where it raises
    ("", "abc", "2.5", "08"): how Xikolo's pagination reads a page."""
    text = value.strip(" \t\n\v\f\r")
    match = RUBY_INTEGER.fullmatch(text) if text.isascii() else None
    if not match:
        return None
    sign, prefix, digits = match.groups()
    digits = digits.replace("_", "").lstrip("0") or "0"
    try:
        # More digits than BIGINT has bits is past it in any radix; Python reads at most 4300 digits.
        number = int(digits, RUBY_RADIX[prefix.lower()]) if len(digits) <= BIGINT.bit_length() else BIGINT + 1
    except ValueError:  # a digit the radix does not have ("08", "12ab")
        return None
    return -number if sign == "-" else number


def page_number(value: str | None, size: int) -> int:
    """The page asked for, as Xikolo reads it: no number at all is page 1; a page below 1, or one
    whose offset is past what SQL can skip, does not exist."""
    number = ruby_strict_integer(value or "")
    if number is None:
        return 1
    if number < 1 or (number - 1) * size > BIGINT:
        raise PageNotFound()
    return number


def page_size(value: str | None, *, default: int, most: int) -> int:
    """per_page as Xikolo reads it: absent is the default; anything else is read as a count (so
    "abc" is 0) and kept between 1 and the most."""
    if value is None:
        return default
    return min(max(ruby_integer(value), 1), most)


def text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def wire_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_start(value: str, field: str) -> datetime:
    """The start of the (UTC) day a date or date-time falls on, as Xikolo counts claim periods."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput(f"{field} is not an ISO 8601 date.", field=field) from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_after(value: str, field: str) -> datetime:
    start = day_start(value, field)
    if start.date() == date.max:
        return datetime.max.replace(tzinfo=UTC)  # the day after 9999-12-31 cannot be written; nothing is later
    return start + timedelta(days=1)


def moment(value: str) -> datetime | None:
    """An ISO 8601 date-time in UTC (naive means UTC), or None if it is not one or cannot be
    stored (an offset PostgreSQL refuses, or a UTC time past year 9999)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def claimed_filter(value: str | None) -> bool | None:
    """Xikolo filters by claim whenever `claimed` is not blank, whatever it says (on, 1, null ...);
    Tessera reads `false` as unclaimed, where Xikolo would list the claimed vouchers."""
    word = (value or "").strip()
    if not word:
        return None
    return word.lower() != "false"


def paging_headers(request: HttpRequest, *, number: int, size: int, total: int) -> dict[str, str]:
    """Link (first, prev, next, last) and X-Total-* headers, as Xikolo's paginate responder sends
    them for any page, the ones past the end included."""
    last = max(math.ceil(total / size), 1)  # an empty list has one (empty) page
    links = {"first": 1, "prev": number - 1 if number > 1 else None,
             "next": number + 1 if number < last else None, "last": last}  # fmt: skip
    page_url = _page_urls(request)
    return {
        "Link": ", ".join(f'<{page_url(n)}>; rel="{rel}"' for rel, n in links.items() if n),
        "X-Total-Pages": str(last),
        "X-Total-Count": str(total),
        "X-Per-Page": str(size),
        "X-Current-Page": str(number),
    }


def _page_urls(request: HttpRequest) -> Callable[[int], str]:
    """The request's own URL with another page: the query copied once for the four links."""
    query = request.GET.copy()

    def page_url(number: int) -> str:
        query["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return page_url
