"""The shop bridge's wire as the OpenAPI schema documents it: the routes' `openapi_extra`.

Every JSON answer is compact and says `charset=utf-8` in its Content-Type, as Rails renders it;
each path is also served with `.json` and with a trailing slash (see shop/middleware.py), which
the schema does not repeat.

The bridge reads its create body by hand (form-encoded or JSON, as Xikolo's shops send it) and
answers with JsonResponse in Xikolo's shapes, so ninja can derive neither; these documents say
what is accepted and every answer a route gives. tests/test_openapi.py fuzzes the bridge against
them, so they cannot drift from the code unnoticed.
"""

from typing import Any

from tessera.shop.xikolo import WIRE_PRODUCTS

Json = dict[str, Any]

TIME: Json = {"type": "string", "format": "date-time", "description": "ISO 8601 in UTC, with milliseconds"}
PRODUCT: Json = {"type": "string", "enum": sorted(WIRE_PRODUCTS)}
# Closed objects (additionalProperties: false): a field added to an answer without being documented
# here fails the schema test instead of going unnoticed.
ERRORS: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "object",
            "description": "Xikolo's shape: field (or `base`) to the words that describe what is wrong",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "error": {"type": "string", "description": "Tessera's stable code, on refusals (not_found, mistyped ...)"},
    },
}
PROBLEM: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "title", "status"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"const": 401}},
}
PAGE_PROBLEM: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "detail", "status"],
    "properties": {"title": {"type": "string"}, "detail": {"type": "string"}, "status": {"const": 404}},
}

VOUCHER_FIELDS: Json = {
    "id": {"type": "string", "description": "The code as printed, with dashes"},
    "country": {"type": "string"},
    "product": PRODUCT,
    "tag": {"type": "string"},
    "created_at": TIME,
}
VOUCHER: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": list(VOUCHER_FIELDS),
    "properties": VOUCHER_FIELDS,
}
LISTED_VOUCHER: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": list(VOUCHER_FIELDS),
    "properties": {
        **VOUCHER_FIELDS,
        "claimed_at": {**TIME, "description": "Only on claimed vouchers: the first live redemption"},
        "claimant_ip": {"type": "string"},
        "claimant_country": {"type": "string", "description": "From the GeoIP database; AAA if it cannot tell"},
    },
}
NULLABLE_TIME: Json = {"anyOf": [TIME, {"type": "null"}]}
REDEMPTION_FIELDS: Json = {
    "claimed_at": TIME,
    "claimant_ip": {"type": "string"},
    "course_session": {"type": ["string", "null"], "description": "null for an assessment's voucher"},
    "course": {"type": ["string", "null"], "description": "the session's course, or the assessment's (or null)"},
    "reversed_at": NULLABLE_TIME,
}
# Tessera extension, on an assessment's redemptions only (not required).
REDEMPTION_EXTRA: Json = {"assessment": {"type": "string", "description": "Tessera extension: the assessment's slug"}}
DETAIL_FIELDS: Json = {
    **VOUCHER_FIELDS,
    "status": {"type": "string", "enum": ["unused", "partly_redeemed", "redeemed", "expired", "revoked"]},
    "uses": {"type": "integer", "minimum": 0},
    "max_uses": {"type": "integer", "minimum": 1},
    "expires_at": NULLABLE_TIME,
    "redemptions": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": list(REDEMPTION_FIELDS),
            "properties": {**REDEMPTION_FIELDS, **REDEMPTION_EXTRA},
        },
    },
}
VOUCHER_DETAILS: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": list(DETAIL_FIELDS),
    "properties": DETAIL_FIELDS,
}


def _json(description: str, schema: Json, headers: Json | None = None) -> Json:
    answer: Json = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _integer_header(description: str) -> Json:
    return {"description": description, "required": True, "schema": {"type": "integer", "minimum": 0}}


UNAUTHORIZED: Json = {
    "description": "No bearer token, or one that is unknown or revoked (RFC 6750, as Xikolo answers)",
    "content": {"application/problem+json": {"schema": PROBLEM}},
    "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer realm="}}},
}
# Tessera's vouchers switched off (TESSERA_VOUCHERS_ENABLED): the whole bridge does not exist.
BRIDGE_OFF: Json = {"description": "Vouchers are switched off in this Tessera"}
PAGE_NOT_FOUND: Json = {
    "description": "A page below 1, or one starting past the 2^63rd voucher (will_paginate's InvalidPage, as Xikolo "
    "answers it); or vouchers are switched off",
    "content": {"application/problem+json": {"schema": PAGE_PROBLEM}},
}
CODE_NOT_FOUND: Json = _json("No such voucher of this shop (or vouchers are switched off)", ERRORS)
REPLAYED: Json = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
IDEMPOTENCY_KEY: Json = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Retry safely: the same key and request replays the first answer for 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
IDEMPOTENCY_REFUSED = "A request with this Idempotency-Key is still running"

COUNT_TEXT = r"^\s*\+?0*([1-9][0-9]?|[1-4][0-9][0-9]|500)(\D.*)?$"  # 1 to 500, read as Xikolo reads "5" or "5 "
USES_TEXT = r"^\s*\+?0*([1-9][0-9]{0,5}|1000000)(\D.*)?$"  # 1 to 1,000,000, batch_create's limit
CREATE_FIELDS: Json = {
    "type": "object",
    "properties": {
        "qty": {
            "description": "How many vouchers, 1 to 500; Xikolo's shops send it as a string",
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 500}, {"type": "string", "pattern": COUNT_TEXT}],
        },
        "product": PRODUCT,
        "product_type": {**PRODUCT, "description": "Xikolo's other name for `product`"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2, any case", "pattern": "^[A-Za-z]{2}$"},
        "tag": {"type": "string", "maxLength": 100},
        "course_session": {"type": "string", "description": "Tessera extension: a course session's slug"},
        "assessment": {
            "type": "string",
            "description": "Tessera extension: an assessment's slug, for product `assessment` (and no course_session)",
        },
        "expires_at": {**TIME, "description": "Tessera extension: ISO 8601; without an offset it is UTC"},
        "uses": {
            "description": "Tessera extension: uses per code (1 by default)",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                {"type": "string", "pattern": USES_TEXT},
            ],
        },
    },
    "required": ["qty", "country"],
    "anyOf": [{"required": ["product"]}, {"required": ["product_type"]}],
}

CREATE: Json = {
    "description": "The fields may also come in the query string, as Rails reads them; where both name a field, "
    "the query string's wins.",
    "parameters": [IDEMPOTENCY_KEY],
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": CREATE_FIELDS},
            "application/json": {"schema": CREATE_FIELDS},
        },
    },
    "responses": {
        200: _json("The new vouchers", {"type": "array", "items": VOUCHER}, REPLAYED),
        401: UNAUTHORIZED,
        404: BRIDGE_OFF,
        409: _json(IDEMPOTENCY_REFUSED, ERRORS),
        422: _json(
            "Bad input, qty first, then the other fields at once (or an Idempotency-Key too long or used for "
            "another request); nothing was created",
            ERRORS,
        ),
    },
}

PAGING_HEADERS: Json = {
    "Link": {"description": "first, prev, next and last pages", "required": True, "schema": {"type": "string"}},
    "X-Total-Pages": _integer_header("How many pages"),
    "X-Total-Count": _integer_header("How many vouchers match"),
    "X-Per-Page": _integer_header("Vouchers per page (50 by default, at most 100)"),
    "X-Current-Page": _integer_header("This page's number, also when it is past the last (an empty list)"),
}
# Descriptions of the list's query parameters (ninja derives the parameters from the route).
PAGE_TEXT = (
    "From 1 (the default), read as Ruby's Integer() reads it; not a number at all is page 1; a page past the last "
    "is an empty list"
)
PER_PAGE_TEXT = "50 when absent; otherwise read as a count and kept between 1 and 100"
CLAIMED_TEXT = (
    "Blank: no filter. `false`: unclaimed vouchers only. Any other word (true, on, 1 ...): claimed ones, as Xikolo "
    "reads it"
)
DATE_TEXT = "ISO 8601, whole UTC days; counts only with `claimed`, as in Xikolo"
MALFORMED_FILTER = "A malformed filter: start_date or end_date (with claimed), or NUL in tag"
LIST: Json = {
    "responses": {
        200: _json(
            "A page of the shop's vouchers, oldest batch first",
            {"type": "array", "items": LISTED_VOUCHER},
            PAGING_HEADERS,
        ),
        401: UNAUTHORIZED,
        404: PAGE_NOT_FOUND,
        422: _json(MALFORMED_FILTER, ERRORS),
    },
}
HEAD_LIST: Json = {
    "responses": {
        200: {"description": "The paging headers of the same page, without a body", "headers": PAGING_HEADERS},
        401: UNAUTHORIZED,
        404: PAGE_NOT_FOUND,
        422: _json(MALFORMED_FILTER, ERRORS),
    },
}

SHOW: Json = {
    "responses": {
        200: _json("The voucher, with every redemption", VOUCHER_DETAILS),
        401: UNAUTHORIZED,
        404: CODE_NOT_FOUND,
        409: _json("The code has a typo (its check symbol does not match): `error` is mistyped", ERRORS),
    },
}
VOID: Json = {
    "parameters": [IDEMPOTENCY_KEY],
    "responses": {
        200: _json("The voucher, revoked, its redemptions reversed", VOUCHER_DETAILS, REPLAYED),
        401: UNAUTHORIZED,
        404: CODE_NOT_FOUND,
        409: _json(f"The code has a typo (`error` is mistyped), or: {IDEMPOTENCY_REFUSED}", ERRORS),
        422: _json("An Idempotency-Key that is too long or was used for another request", ERRORS),
    },
}
