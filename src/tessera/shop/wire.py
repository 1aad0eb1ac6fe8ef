"""The Xikolo shop bridge's wire format: reading its parameters, writing its vouchers.

Shops written for Xikolo send form-encoded or JSON bodies, numbers as strings, and expect
Xikolo's product names, field order and ISO 8601 times with milliseconds in UTC.
"""

import json
import math
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.http import HttpRequest

from tessera.core.errors import InvalidInput
from tessera.core.geoip import geoip
from tessera.vouchers.models import Product
from tessera.vouchers.selectors import display_code

# Xikolo's product names where one exists; enrollment is Tessera's own.
WIRE_PRODUCTS = {
    "course_reactivation": Product.REACTIVATION,
    "proctoring_smowl": Product.PROCTORING,
    "course_enrollment": Product.ENROLLMENT,
}
PRODUCT_ON_WIRE: dict[str, str] = {str(product): wire for wire, product in WIRE_PRODUCTS.items()}
MAX_DIGITS = 20  # a count longer than this is past every limit; see ruby_integer
UNKNOWN_COUNTRY = "AAA"  # what Xikolo answers when it cannot place a claimant's address


def voucher(*, code: str, prefix: str, country: str, product: str, tag: str, created_at: datetime) -> dict[str, Any]:
    """A voucher as Xikolo's bridge shows it, in every answer that lists one."""
    return {
        "id": display_code(code, prefix), "country": country, "product": PRODUCT_ON_WIRE[product], "tag": tag,
        "created_at": wire_time(created_at),
    }  # fmt: skip


def claimant_country(address: str | None) -> str:
    """The country of a redeeming learner's address, as the GeoIP database places it."""
    return geoip().country(address) or UNKNOWN_COUNTRY


class WireErrors(Exception):
    """Field errors in Xikolo's shape: {"errors": {field: [word, ...]}}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def request_params(request: HttpRequest) -> dict[str, Any]:
    """The body's parameters, JSON or form-encoded, as one flat dict."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}", parse_constant=_not_a_number, parse_float=_finite)
        except (ValueError, UnicodeDecodeError):
            raise WireErrors({"base": ["invalid JSON"]}) from None
        if not isinstance(body, dict):
            raise WireErrors({"base": ["invalid JSON"]})
        return _without_nul(body)
    return _without_nul({key: request.POST.get(key) for key in request.POST})


def _not_a_number(word: str) -> float:
    raise ValueError(f"{word} is not JSON")  # Python reads NaN and Infinity; RFC 8259 has neither


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 reads as infinity
        raise ValueError(f"{text} is too large")
    return number


def _without_nul(params: dict[str, Any]) -> dict[str, Any]:
    """NUL in a value is refused: no PostgreSQL text column can store or match it."""
    refused = {key: ["invalid"] for key, value in params.items() if isinstance(value, str) and "\x00" in value}
    if refused:
        raise WireErrors(refused)
    return params


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


TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


def flag(value: str | None, field: str) -> bool | None:
    """claimed=true / claimed=false; unlike Xikolo, false means unclaimed."""
    word = (value or "").strip().lower()
    if not word:
        return None
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidInput(f"{field} is true or false.", field=field)
    return word in TRUE_WORDS


def paging_headers(request: HttpRequest, page: Any, size: int) -> dict[str, str]:
    """Link (first, prev, next, last) and X-Total-* headers, as Xikolo's paginate responder."""
    last = page.paginator.num_pages
    links = {"first": 1, "prev": page.number - 1 if page.has_previous() else None,
             "next": page.number + 1 if page.has_next() else None, "last": last}  # fmt: skip
    return {
        "Link": ", ".join(f'<{_page_url(request, n)}>; rel="{rel}"' for rel, n in links.items() if n),
        "X-Total-Pages": str(last),
        "X-Total-Count": str(page.paginator.count),
        "X-Per-Page": str(size),
        "X-Current-Page": str(page.number),
    }


def _page_url(request: HttpRequest, number: int) -> str:
    query = request.GET.copy()
    query["page"] = str(number)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
