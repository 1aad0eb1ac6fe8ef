"""The bridge's reads: shop_codes_page counts and pages a shop's codes batch by batch in one
hand-written statement, and every page must be what the plain ORM query with COUNT and OFFSET
gives; the token lookup, written by hand, must find what the ORM finds."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tessera.core.tokens import token_digest
from tessera.shop.models import Shop, ShopToken
from tessera.shop.selectors import (
    LISTED_FIELDS,
    VoucherFilters,
    shop_codes_page,
    shop_codes_total,
    shop_for_token,
)
from tessera.shop.services import shop_vouchers_create, token_issue, token_revoke
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.rows import columns_of

BATCH_SIZES = (7, 1, 12, 5)  # 25 codes, uneven, so pages of 4 start and end inside batches


def plain(shop: Shop, filters: VoucherFilters) -> QuerySet[Code, dict]:
    """The list as the obvious ORM query: every code of the shop in order, paged by slicing."""
    codes = Code.objects.filter(batch__shop_batch__shop=shop)
    if filters.tag:
        codes = codes.filter(batch__tag=filters.tag)
    if filters.claimed is not None:
        codes = codes.filter(uses__gt=0) if filters.claimed else codes.filter(uses=0)
    live = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True)
    if filters.claimed_from:
        codes = codes.filter(Exists(live.filter(redeemed_at__gte=filters.claimed_from)))
    if filters.claimed_before:
        codes = codes.filter(Exists(live.filter(redeemed_at__lt=filters.claimed_before)))
    first = live.order_by("redeemed_at", "pk")
    listed = codes.annotate(claimed_at=Subquery(first.values("redeemed_at")[:1]),
                            claimant_ip=Subquery(first.values("client_ip")[:1]))  # fmt: skip
    return listed.order_by("batch_id", "code").values(*LISTED_FIELDS)


@pytest.fixture
def shop_with_batches(shop_a, shop_b, running_session, make_learners):
    for n, size in enumerate(BATCH_SIZES):
        tag = "even" if n % 2 == 0 else "odd"
        shop_vouchers_create(shop=shop_a.shop, qty=size, product="enrollment", country="DE", tag=tag)
    shop_vouchers_create(shop=shop_b.shop, qty=3, product="enrollment", country="DE")  # never listed for A
    codes = [row["code"] for row in plain(shop_a.shop, VoucherFilters())]
    for learner, code in zip(make_learners(4), codes[3:20:5], strict=False):
        voucher_redeem(code=code, user=learner, session=running_session, client_ip="203.0.113.9")
    return shop_a.shop


FILTERS = [
    VoucherFilters(),
    VoucherFilters(claimed=True),
    VoucherFilters(claimed=False),
    VoucherFilters(tag="even"),
    VoucherFilters(tag="odd", claimed=False),
    VoucherFilters(tag="even", claimed=True),
]
NOW = timezone.now()
DATED = [
    VoucherFilters(claimed=True, claimed_from=NOW - timedelta(days=1), claimed_before=NOW + timedelta(days=1)),
    VoucherFilters(claimed=True, claimed_from=NOW - timedelta(days=1)),
    VoucherFilters(claimed=True, claimed_before=NOW + timedelta(days=1)),
    VoucherFilters(claimed=True, claimed_from=NOW + timedelta(days=1)),
    VoucherFilters(claimed=True, claimed_before=NOW - timedelta(days=1)),
    VoucherFilters(claimed=False, claimed_from=NOW - timedelta(days=1)),
    VoucherFilters(tag="odd", claimed=True, claimed_before=NOW + timedelta(days=1)),
]


class TestShopCodesPage:
    @pytest.mark.parametrize("filters", FILTERS)
    @pytest.mark.parametrize("per_page", [1, 4, 7, 100])
    def test_every_page_holds_what_count_and_offset_give(self, shop_with_batches, filters, per_page):
        expected = plain(shop_with_batches, filters)
        total = expected.count()
        for page in range(1, total // per_page + 3):  # to one page past the end
            start = (page - 1) * per_page
            found = shop_codes_page(shop_with_batches, filters, page=page, per_page=per_page)
            assert found == (list(expected[start : start + per_page]), total)
        assert shop_codes_total(shop_with_batches, filters) == total

    def test_the_count_is_read_from_the_batches_not_the_codes(self, shop_with_batches):
        with CaptureQueriesContext(connection) as queries:
            assert shop_codes_total(shop_with_batches, VoucherFilters()) == sum(BATCH_SIZES)
        assert len(queries) == 1
        assert "vouchers_code" not in queries[0]["sql"]

    @pytest.mark.parametrize("filters", DATED)
    @pytest.mark.parametrize("per_page", [1, 3, 100])
    def test_claim_dates_are_paged_by_batch_too_and_agree(self, shop_with_batches, filters, per_page):
        expected = plain(shop_with_batches, filters)
        total = expected.count()
        for page in range(1, total // per_page + 3):
            start = (page - 1) * per_page
            found = shop_codes_page(shop_with_batches, filters, page=page, per_page=per_page)
            assert found == (list(expected[start : start + per_page]), total)
        assert shop_codes_total(shop_with_batches, filters) == total

    def test_a_reversed_claim_lists_the_code_as_the_orm_does(self, shop_with_batches, running_session, learner):
        """A reversed redemption keeps the code listed by its uses, but it has no live claim."""
        code = plain(shop_with_batches, VoucherFilters(claimed=True))[0]["code"]
        Redemption.objects.filter(code_id=code).update(reversed_at=timezone.now())
        for filters in (VoucherFilters(claimed=True), VoucherFilters(claimed=True, claimed_from=NOW - timedelta(1))):
            expected = plain(shop_with_batches, filters)
            assert shop_codes_page(shop_with_batches, filters, page=1, per_page=10) == (
                list(expected[:10]),
                expected.count(),
            )

    @pytest.mark.parametrize("filters", FILTERS + DATED)
    def test_a_page_is_one_statement_without_offset(self, shop_with_batches, filters):
        """The count and the page together, whatever the filters: no OFFSET, no COUNT over codes."""
        with CaptureQueriesContext(connection) as queries:
            shop_codes_page(shop_with_batches, filters, page=2, per_page=2)
        assert len(queries) == 1
        assert "OFFSET" not in queries[0]["sql"].upper()

    def test_a_page_past_the_end_is_empty_and_still_counts(self, shop_with_batches):
        with CaptureQueriesContext(connection) as queries:
            assert shop_codes_page(shop_with_batches, VoucherFilters(), page=9, per_page=50) == ([], 25)
        assert len(queries) == 1

    def test_a_shop_without_codes_has_one_empty_page(self, shop_b):
        assert shop_codes_page(shop_b.shop, VoucherFilters(tag="none such"), page=1, per_page=50) == ([], 0)


class TestShopForToken:
    def orm(self, plaintext: str) -> Shop | None:
        token = ShopToken.objects.select_related("shop").filter(digest=token_digest(plaintext), revoked_at=None).first()
        return None if token is None else token.shop

    def test_finds_the_shop_the_orm_finds_column_for_column(self, shop_a):
        found, expected = shop_for_token(shop_a.token), self.orm(shop_a.token)
        assert expected is not None
        assert columns_of(found) == columns_of(expected)

    def test_a_revoked_or_unknown_token_finds_nothing_as_in_the_orm(self, shop_a):
        token, plaintext = token_issue(shop=shop_a.shop)
        token_revoke(token=token)
        for tried in (plaintext, plaintext[:-1] + "x", ""):
            assert shop_for_token(tried) is None
            assert self.orm(tried) is None
