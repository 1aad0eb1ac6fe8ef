"""Reads for the bridge: which shop a token names, and a shop's vouchers."""

import hmac
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Any, Self

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from tessera.core.db import columns, fetch_one, instance_from_row
from tessera.core.tokens import token_digest
from tessera.shop.models import Shop
from tessera.vouchers.models import Code, Redemption

# Every bridge request runs this: hand-written SQL, see tessera.core.db.
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


def shop_codes(
    shop: Shop,
    *,
    tag: str | None = None,
    claimed: bool | None = None,
    claimed_from: datetime | None = None,
    claimed_before: datetime | None = None,
) -> QuerySet[Code]:
    """The shop's codes, oldest batch first then by code (a stable order for paging), each
    annotated with its first live redemption: claimed_at and claimant_ip.

    Counting and slicing are done batch by batch (see ShopCodes) unless claimed dates are given."""
    codes = ShopCodes(Code).filter(batch__shop_batch__shop=shop)
    if tag:
        codes = codes.filter(batch__tag=tag)
    if claimed is not None:
        codes = codes.filter(uses__gt=0) if claimed else codes.filter(uses=0)
    if claimed_from is not None or claimed_before is not None:
        # A live redemption means uses > 0: said again so the index of used codes can serve it.
        codes = codes.filter(Exists(_claims_between(claimed_from, claimed_before)), uses__gt=0)
    first_claim = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True).order_by("redeemed_at", "pk")
    listed = codes.annotate(
        claimed_at=Subquery(first_claim.values("redeemed_at")[:1]),
        claimant_ip=Subquery(first_claim.values("client_ip")[:1]),
    ).order_by("batch_id", "code")
    if claimed_from is None and claimed_before is None:
        listed.paging = BatchPaging(shop_id=shop.pk, tag=tag or None, claimed=claimed)
    return listed


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
# shop's codes, which take seconds at a million. Claimed or unclaimed codes per batch come from
# the index of used codes (vouchers migration 0005), which holds only codes with uses > 0. A
# page then reads from its first code on (found in its batch), so no row is skipped by OFFSET:
# PostgreSQL would work out claimed_at and claimant_ip for every skipped row too.

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


@dataclass
class BatchPaging:
    """Counts and page starts from how many of the listed codes each of the shop's batches holds
    (a shop with a million codes has 2,000 batches), read once for the count and the page."""

    shop_id: int
    tag: str | None
    claimed: bool | None
    _batches: list[int] = field(default_factory=list, repr=False)
    _ends: list[int] = field(default_factory=list, repr=False)  # listed codes up to each batch's end
    _read: bool = field(default=False, repr=False)

    def total(self) -> int:
        self._read_batches()
        return self._ends[-1] if self._ends else 0

    def page(self, start: int, stop: int) -> Q:
        """Listed codes start..stop-1 are the first stop - start codes matching this condition: the
        batches that hold them, from the page's first code on."""
        self._read_batches()
        first, last = bisect_right(self._ends, start), bisect_right(self._ends, stop - 1)
        if first == len(self._batches):
            return Q(pk__in=[])
        before = self._ends[first - 1] if first else 0
        first_batch, later_batches = self._batches[first], self._batches[first + 1 : last + 1]
        with connection.cursor() as cursor:
            cursor.execute(NTH_CODE.format(uses=USES[self.claimed]), [first_batch, start - before])
            row = cursor.fetchone()
        if row is None:
            # The batch lost matching codes since it was counted (one was redeemed while listing
            # unclaimed codes): the page starts with the next batch instead.
            return Q(batch_id__in=later_batches)
        return Q(batch_id=first_batch, code__gte=row[0]) | Q(batch_id__in=later_batches)

    def _read_batches(self) -> None:
        if self._read:
            return
        used = self.claimed is not None
        listed = LISTED.format(
            per_batch=LISTED_PER_BATCH[self.claimed],
            used=USED if used else "",
            tag=" AND b.tag = %s" if self.tag else "",
        )
        params = [self.shop_id] * (2 if used else 1) + ([self.tag] if self.tag else [])
        with connection.cursor() as cursor:
            cursor.execute(PER_BATCH.format(listed=listed), params)
            rows = cursor.fetchall()
        self._batches = [batch for batch, _ in rows]
        self._ends = list(accumulate(listed for _, listed in rows))
        self._read = True


class ShopCodes(QuerySet[Code]):
    """shop_codes' queryset: count() and slices ([start:stop], as Django's Paginator takes them)
    use its BatchPaging; filtering or reordering it further drops the paging, since the batch
    counts would no longer describe it."""

    paging: BatchPaging | None = None

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]  # Django's, not in django-stubs
        clone.paging = self.paging
        return clone

    def _filter_or_exclude(self, negate: bool, args: Any, kwargs: Any) -> Self:
        clone = super()._filter_or_exclude(negate, args, kwargs)  # type: ignore[misc]  # as _clone
        clone.paging = None
        return clone

    def order_by(self, *field_names: Any) -> Self:
        clone = super().order_by(*field_names)
        clone.paging = None
        return clone

    def count(self) -> int:
        if self.paging is None or self.query.is_sliced:
            return super().count()
        return self.paging.total()

    def __getitem__(self, k: Any) -> Any:
        if self.paging is None or not isinstance(k, slice) or k.step is not None or self.query.is_sliced:
            return super().__getitem__(k)
        start, stop = k.start or 0, k.stop
        if stop is None or start < 0 or stop <= start:
            return super().__getitem__(k)
        # No OFFSET: the database reads the page's batches only, from the page's first code on, and
        # works out claimed_at and claimant_ip for the page's codes only.
        return self._filter_or_exclude(False, (self.paging.page(start, stop),), {})[: stop - start]
