"""Reads for the bridge: which shop a token names, and a shop's vouchers."""

import hmac
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from tessera.core.db import columns, fetch_one, instance_from_row
from tessera.core.tokens import token_digest
from tessera.shop.models import Shop
from tessera.vouchers.models import Code, Redemption

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

    Counted and cut batch by batch (see "paging a shop's codes by batch" below), unless claim
    dates narrow the list: then with COUNT and OFFSET, as those lists are short."""
    listed = _listed_codes(shop, filters)
    start = (page - 1) * per_page
    if filters.dated:
        total = listed.count()
        window = listed[start : start + per_page]
    else:
        counts = batch_counts(shop.pk, tag=filters.tag, claimed=filters.claimed)
        total = counts.total
        # No OFFSET: the database reads the page's batches only, from the page's first code on,
        # and works out claimed_at and claimant_ip for the page's codes only.
        window = listed.filter(counts.from_code(start, start + per_page, claimed=filters.claimed))[:per_page]
    rows = list(window.values(*LISTED_FIELDS)) if start < total else []
    return CodesPage(rows=rows, total=total)


def shop_codes_total(shop: Shop, filters: VoucherFilters) -> int:
    """How many codes the shop's list holds, counted as shop_codes_page counts them."""
    if filters.dated:
        return _listed_codes(shop, filters).count()
    return batch_counts(shop.pk, tag=filters.tag, claimed=filters.claimed).total


def _listed_codes(shop: Shop, filters: VoucherFilters) -> QuerySet[Code]:
    """The shop's codes as listed, in the list's order, each annotated with its first live
    redemption: claimed_at and claimant_ip."""
    codes = Code.objects.filter(batch__shop_batch__shop=shop)
    if filters.tag:
        codes = codes.filter(batch__tag=filters.tag)
    if filters.claimed is not None:
        codes = codes.filter(uses__gt=0) if filters.claimed else codes.filter(uses=0)
    if filters.dated:
        # A live redemption means uses > 0: said again so the index of used codes can serve it.
        codes = codes.filter(Exists(_claims_between(filters.claimed_from, filters.claimed_before)), uses__gt=0)
    first_claim = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True).order_by("redeemed_at", "pk")
    return codes.annotate(
        claimed_at=Subquery(first_claim.values("redeemed_at")[:1]),
        claimant_ip=Subquery(first_claim.values("client_ip")[:1]),
    ).order_by("batch_id", "code")


def _claims_between(start: datetime | None, end: datetime | None) -> QuerySet[Redemption]:
    claims = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True)
    if start is not None:
        claims = claims.filter(redeemed_at__gte=start)
    if end is not None:
        claims = claims.filter(redeemed_at__lt=end)
    return claims


# --- paging a shop's codes by batch ------------------------------------------------------------
#
# A shop's codes come in batches of at most 500 (the bridge's limit per request) whose sizes are
# known, and the list is ordered by batch first. So the number of codes listed is a sum over the
# shop's batches, and a page starts inside one known batch: counting and OFFSET never walk the
# shop's codes, which take seconds at a million (docs/benchmarks.md section 3, "What changed to
# get here"). Claimed or unclaimed codes per batch come from the index of used codes (vouchers
# migration 0005), which holds only codes with uses > 0. A page then reads from its first code on
# (found in its batch), so no row is skipped by OFFSET: PostgreSQL would work out claimed_at and
# claimant_ip for every skipped row too.
#
# Both statements are written by hand. Their ORM equivalents, on a shop of a million codes in
# 2,000 batches (PostgreSQL; docs/benchmarks.md section 5): a page's first code took 289-471 µs
# of CPU against 56-84 µs; the counts per batch 0.7-4.8 ms against 0.2-1.6 ms, and with claimed=
# 21-25 ms of wall time against 11-17 ms, since the ORM cannot join to the grouped count of used
# codes and counts them batch by batch instead. A list page has about 2.5 ms of CPU to spend (section 3,
# "What limits it"). tests/shop/test_selectors.py holds every page to the plain ORM query.

# %s: the shop (twice with claimed), then the tag if any; filled in from the filters.
LISTED = (
    "SELECT b.id, {per_batch} AS listed FROM shop_shopbatch sb JOIN vouchers_batch b ON b.id = sb.batch_id{used}"
    " WHERE sb.shop_id = %s{tag}"
)
# A batch's used codes, counted in the index of used codes.
USED = (
    " LEFT JOIN (SELECT c.batch_id, COUNT(*) AS used FROM vouchers_code c"
    " JOIN shop_shopbatch ub ON ub.batch_id = c.batch_id WHERE ub.shop_id = %s AND c.uses > 0"
    " GROUP BY c.batch_id) u ON u.batch_id = b.id"
)
LISTED_PER_BATCH = {None: "b.count", True: "COALESCE(u.used, 0)", False: "b.count - COALESCE(u.used, 0)"}
PER_BATCH = "SELECT id, listed FROM ({listed}) listed_per_batch WHERE listed > 0 ORDER BY id"
# The n-th (%s) listed code of a batch (%s), in the list's order.
NTH_CODE = "SELECT code FROM vouchers_code WHERE batch_id = %s{uses} ORDER BY code LIMIT 1 OFFSET %s"
USES = {None: "", True: " AND uses > 0", False: " AND uses = 0"}


@dataclass(frozen=True)
class BatchCounts:
    """How many of the listed codes each of the shop's batches holds (a shop with a million
    codes has 2,000 batches), in the list's order; batches listing none are left out."""

    batches: list[int]
    ends: list[int]  # listed codes up to each batch's end

    @property
    def total(self) -> int:
        return self.ends[-1] if self.ends else 0

    def from_code(self, start: int, stop: int, *, claimed: bool | None) -> Q:
        """Listed codes start..stop-1 are the first stop - start codes matching this condition: the
        batches that hold them, from the page's first code on."""
        first, last = bisect_right(self.ends, start), bisect_right(self.ends, stop - 1)
        if first == len(self.batches):
            return Q(pk__in=[])
        before = self.ends[first - 1] if first else 0
        first_batch, later_batches = self.batches[first], self.batches[first + 1 : last + 1]
        code = nth_code(first_batch, start - before, claimed=claimed)
        if code is None:
            # The batch lost matching codes since it was counted (one was redeemed while listing
            # unclaimed codes): the page starts with the next batch instead.
            return Q(batch_id__in=later_batches)
        return Q(batch_id=first_batch, code__gte=code) | Q(batch_id__in=later_batches)


def batch_counts(shop_id: int, *, tag: str | None, claimed: bool | None) -> BatchCounts:
    used = claimed is not None
    listed = LISTED.format(
        per_batch=LISTED_PER_BATCH[claimed], used=USED if used else "", tag=" AND b.tag = %s" if tag else ""
    )
    params = [shop_id] * (2 if used else 1) + ([tag] if tag else [])
    with connection.cursor() as cursor:
        cursor.execute(PER_BATCH.format(listed=listed), params)
        rows = cursor.fetchall()
    return BatchCounts(batches=[batch for batch, _ in rows], ends=list(accumulate(listed for _, listed in rows)))


def nth_code(batch_id: int, n: int, *, claimed: bool | None) -> str | None:
    """The batch's n-th listed code (from 0), in the list's order; None if it lists fewer."""
    row = fetch_one(NTH_CODE.format(uses=USES[claimed]), [batch_id, n])
    return None if row is None else str(row[0])
