"""Reads for the bridge: which shop a token names, and a shop's vouchers."""

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from tessera.core.db import columns, fetch_one, from_db, instance_from_row
from tessera.core.tokens import token_digest
from tessera.shop.models import Shop
from tessera.vouchers.models import Batch, Code, Redemption

# Every bridge request runs this: hand-written SQL, see tessera.core.db. The ORM's select_related
# query took 914 µs of CPU against 128 µs (PostgreSQL; docs/benchmarks.md section 5);
# tests/shop/test_selectors.py holds it to the ORM's answers.
SHOP_FOR_DIGEST = (
    f"SELECT t.digest, {columns(Shop, 's')} FROM shop_shoptoken t"  # noqa: S608
    " JOIN shop_shop s ON s.id = t.shop_id WHERE t.digest = %s AND t.revoked_at IS NULL"
)


def shop_for_token(plaintext: str) -> Shop | None:
    """The shop of a live token, or None. The lookup is by digest; the final comparison runs in
    constant time so the answer's timing says nothing about how much of a token was right."""
    digest = token_digest(plaintext)
    row = fetch_one(SHOP_FOR_DIGEST, [digest])
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    return instance_from_row(Shop, row[1:])


def shop_code(shop: Shop, normalized: str) -> Code | None:
    """One of the shop's own codes; another shop's code is as unknown as a code that never was."""
    return Code.objects.select_related("batch__offer").filter(pk=normalized, batch__shop_batch__shop=shop).first()


@dataclass(frozen=True)
class VoucherFilters:
    """What a shop's voucher list is narrowed to: Xikolo's index parameters."""

    tag: str | None = None
    claimed: bool | None = None
    claimed_from: datetime | None = None
    claimed_before: datetime | None = None

    @property
    def dated(self) -> bool:
        return self.claimed_from is not None or self.claimed_before is not None


class CodesPage(NamedTuple):
    """One page of a shop's voucher list (each row holds LISTED_FIELDS), and how many it lists."""

    rows: list[dict[str, Any]]
    total: int


# What each listed voucher holds: the code, its batch's fields, and its first live redemption.
LISTED_FIELDS = (
    "code", "batch__prefix", "batch__country", "batch__offer__product", "batch__tag", "batch__created_at",
    "claimed_at", "claimant_ip",
)  # fmt: skip


def shop_codes_page(shop: Shop, filters: VoucherFilters, *, page: int, per_page: int) -> CodesPage:
    """Page `page` (from 1) of the shop's codes, oldest batch first then by code (a stable
    order), with `per_page` codes a page; a page past the end is empty but still counts them.

    One statement counts the list and reads the page, batch by batch (see "paging a shop's codes
    by batch" below), whatever the filters."""
    start = (page - 1) * per_page
    sql, params = _listed_per_batch(shop.pk, filters)
    with connection.cursor() as cursor:
        cursor.execute(
            PAGE.format(listed=sql, codes=_codes_condition(filters), **FIRST_LIVE_CLAIMS),
            [*params, start, start + per_page, *_dated_params(filters), start, start + per_page],
        )
        found = cursor.fetchall()
    # Always one row at least: the total, with the page's first code or none.
    rows = [_listed_row(values[1:]) for values in found if values[1] is not None]
    return CodesPage(rows=rows, total=int(found[0][0]))


def shop_codes_total(shop: Shop, filters: VoucherFilters) -> int:
    """How many codes the shop's list holds, counted as shop_codes_page counts them."""
    sql, params = _listed_per_batch(shop.pk, filters)
    row = fetch_one(TOTAL.format(listed=sql), params)
    return 0 if row is None else int(row[0])


# --- paging a shop's codes by batch ------------------------------------------------------------
#
# A shop's codes come in batches of at most 500 (the bridge's limit per request) whose sizes are
# known, and the list is ordered by batch first. So the number of codes listed is a sum over the
# shop's batches, and a page lies in the few batches whose running sum passes its first and last
# code: counting and OFFSET never walk the shop's codes, which take seconds at a million
# (docs/benchmarks.md section 3, "What changed to get here"). Claimed or unclaimed codes per batch
# come from the index of used codes (vouchers migration 0005), which holds only codes with
# uses > 0; so do codes claimed between two dates, each checked against its redemptions. Within
# its batches a page's codes are numbered in the list's order, and claimed_at and claimant_ip are
# worked out for the page's codes only, and only for used ones (a live redemption means uses > 0).
#
# One statement, written by hand, counts and reads the page (issue 16: the ORM's page query cost
# more to build and compile than to run, and three round trips became one; docs/benchmarks.md
# section 3, "Issue 16"). tests/shop/test_selectors.py holds every page to the plain ORM query
# with COUNT and OFFSET, and tests/shop/test_bridge.py the statements per request.

# The shop's batches with how many codes each lists. %s: the used codes' count's (the shop twice,
# or the shop and the claim dates), the shop, then the tag if any.
LISTED = (
    "SELECT b.id, {per_batch} AS listed FROM shop_shopbatch sb JOIN vouchers_batch b ON b.id = sb.batch_id{used}"
    " WHERE sb.shop_id = %s{tag}"
)
# A batch's used codes, counted in the index of used codes: read in its order from the shop's
# first batch to its last, so counted as read rather than hashed (the shop's 10,000 used codes:
# 2.7 ms against 5.4 ms joined to the shop's batches, which read every used code of every shop
# anyway). A batch of another shop in that range is counted, then left out by the join that follows.
USED = (
    " LEFT JOIN (SELECT c.batch_id, COUNT(*) AS used FROM vouchers_code c WHERE c.uses > 0"
    " AND c.batch_id BETWEEN (SELECT MIN(batch_id) FROM shop_shopbatch WHERE shop_id = %s)"
    " AND (SELECT MAX(batch_id) FROM shop_shopbatch WHERE shop_id = %s)"
    " GROUP BY c.batch_id) u ON u.batch_id = b.id"
)
# Used codes claimed between two dates, per batch. Joined to the shop's batches, not read by range:
# the range's low row estimate makes PostgreSQL check each used code's redemptions one by one
# (20 ms of PostgreSQL CPU a page against 10 ms; docs/benchmarks.md section 3, "Issue 16").
USED_DATED = (
    " LEFT JOIN (SELECT c.batch_id, COUNT(*) AS used FROM vouchers_code c"
    " JOIN shop_shopbatch ub ON ub.batch_id = c.batch_id WHERE ub.shop_id = %s AND c.uses > 0{dated}"
    " GROUP BY c.batch_id) u ON u.batch_id = b.id"
)
# A code claimed between the dates: by one live redemption made then; %s: the dates given.
DATED = " AND EXISTS (SELECT 1 FROM vouchers_redemption r WHERE r.code_id = c.code AND r.reversed_at IS NULL{between})"
TOTAL = "WITH per_batch AS ({listed}) SELECT COALESCE(SUM(listed), 0) FROM per_batch"
# %s, after the listed batches' own: the page's first and end position (twice).
FIRST_LIVE_CLAIM = (
    "CASE WHEN n.uses > 0 THEN (SELECT r.{column} FROM vouchers_redemption r WHERE r.code_id = n.code"
    " AND r.reversed_at IS NULL ORDER BY r.redeemed_at, r.id LIMIT 1) END"
)
PAGE = (
    "WITH per_batch AS ({listed}),"
    " ends AS (SELECT id, listed, SUM(listed) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS listed_to"
    " FROM per_batch WHERE listed > 0),"
    " page_batches AS (SELECT id, listed_to - listed AS listed_before FROM ends"
    " WHERE listed_to > %s AND listed_to - listed < %s),"
    " numbered AS (SELECT c.code, c.batch_id, c.uses,"
    " pb.listed_before + ROW_NUMBER() OVER (PARTITION BY c.batch_id ORDER BY c.code) AS position"
    " FROM page_batches pb JOIN vouchers_code c ON c.batch_id = pb.id"
    # The range lets PostgreSQL plan an index scan of the page's batches, however many it guesses.
    " WHERE c.batch_id BETWEEN (SELECT MIN(id) FROM page_batches) AND (SELECT MAX(id) FROM page_batches){codes}),"
    " page AS (SELECT n.code, b.prefix, b.country, o.product, b.tag, b.created_at,"
    " {claimed_at} AS claimed_at, {claimant_ip} AS claimant_ip, n.batch_id"
    " FROM numbered n JOIN vouchers_batch b ON b.id = n.batch_id JOIN vouchers_offer o ON o.id = b.offer_id"
    " WHERE n.position > %s AND n.position <= %s)"
    " SELECT total.listed, page.code, page.prefix, page.country, page.product, page.tag, page.created_at,"
    " page.claimed_at, page.claimant_ip"
    " FROM (SELECT COALESCE(MAX(listed_to), 0) AS listed FROM ends) total LEFT JOIN page ON 1 = 1"
    " ORDER BY page.batch_id, page.code"
)
FIRST_LIVE_CLAIMS = {"claimed_at": FIRST_LIVE_CLAIM.format(column="redeemed_at"),
                     "claimant_ip": FIRST_LIVE_CLAIM.format(column="client_ip")}  # fmt: skip
LISTED_PER_BATCH = {None: "b.count", True: "COALESCE(u.used, 0)", False: "b.count - COALESCE(u.used, 0)"}
USES = {None: "", True: " AND c.uses > 0", False: " AND c.uses = 0"}


def _listed_per_batch(shop_id: int, filters: VoucherFilters) -> tuple[str, list[Any]]:
    """The LISTED statement for these filters, and its parameters."""
    dated = _dated_params(filters)
    if filters.dated and filters.claimed is False:
        per_batch = "0"  # unclaimed and claimed between two dates: none is both
    else:
        per_batch = LISTED_PER_BATCH[True if filters.dated else filters.claimed]
    if filters.dated:
        used, used_params = USED_DATED.format(dated=_dated_condition(filters)), [shop_id, *dated]
    elif filters.claimed is not None:
        used, used_params = USED, [shop_id, shop_id]
    else:
        used, used_params = "", []
    sql = LISTED.format(per_batch=per_batch, used=used, tag=" AND b.tag = %s" if filters.tag else "")
    return sql, [*used_params, shop_id, *([filters.tag] if filters.tag else [])]


def _codes_condition(filters: VoucherFilters) -> str:
    """Which of a batch's codes are listed; %s: the claim dates given."""
    if filters.dated:
        return USES[filters.claimed] + USES[True] + _dated_condition(filters)
    return USES[filters.claimed]


def _dated_condition(filters: VoucherFilters) -> str:
    if not filters.dated:
        return ""
    since = " AND r.redeemed_at >= %s" if filters.claimed_from is not None else ""
    before = " AND r.redeemed_at < %s" if filters.claimed_before is not None else ""
    return DATED.format(between=since + before)


def _dated_params(filters: VoucherFilters) -> list[datetime]:
    return [moment for moment in (filters.claimed_from, filters.claimed_before) if moment is not None]


def _listed_row(values: tuple[Any, ...]) -> dict[str, Any]:
    code, prefix, country, product, tag, created_at, claimed_at, claimant_ip = values
    return {
        "code": code, "batch__prefix": prefix, "batch__country": country, "batch__offer__product": product,
        "batch__tag": tag, "batch__created_at": from_db(Batch, "created_at", created_at),
        "claimed_at": from_db(Redemption, "redeemed_at", claimed_at), "claimant_ip": claimant_ip,
    }  # fmt: skip
