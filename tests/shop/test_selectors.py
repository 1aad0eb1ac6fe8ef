"""shop_codes pages a shop's codes batch by batch; every page must be what plain paging gives."""

from datetime import timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tessera.shop.selectors import shop_codes
from tessera.shop.services import shop_vouchers_create
from tessera.vouchers.models import Code
from tessera.vouchers.services import voucher_redeem

BATCH_SIZES = (7, 1, 12, 5)  # 25 codes, uneven, so pages of 4 start and end inside batches


@pytest.fixture
def shop_with_batches(shop_a, shop_b, running_session, make_learners):
    for n, size in enumerate(BATCH_SIZES):
        tag = "even" if n % 2 == 0 else "odd"
        shop_vouchers_create(shop=shop_a.shop, qty=size, product="enrollment", country="DE", tag=tag)
    shop_vouchers_create(shop=shop_b.shop, qty=3, product="enrollment", country="DE")  # never listed for A
    codes = list(shop_codes(shop_a.shop).values_list("code", flat=True))
    for learner, code in zip(make_learners(4), codes[3:20:5], strict=False):
        voucher_redeem(code=code, user=learner, session=running_session)
    return shop_a.shop


def _plain(shop, **filters) -> list[str]:
    """The same list without batch paging: every code, in order, filtered in Python."""
    codes = list(shop_codes(shop).values_list("code", "uses", "batch__tag"))
    if filters.get("claimed") is not None:
        codes = [row for row in codes if (row[1] > 0) == filters["claimed"]]
    if filters.get("tag"):
        codes = [row for row in codes if row[2] == filters["tag"]]
    return [row[0] for row in codes]


FILTERS = [{}, {"claimed": True}, {"claimed": False}, {"tag": "even"}, {"tag": "odd", "claimed": False}]


class TestBatchPaging:
    @pytest.mark.parametrize("filters", FILTERS)
    @pytest.mark.parametrize("per_page", [1, 4, 7, 100])
    def test_every_page_holds_what_plain_paging_gives(self, shop_with_batches, filters, per_page):
        expected = _plain(shop_with_batches, **filters)
        paginator = Paginator(shop_codes(shop_with_batches, **filters).values("code"), per_page)
        assert paginator.count == len(expected)
        pages = [[row["code"] for row in paginator.page(n).object_list] for n in paginator.page_range]
        assert pages == [expected[i : i + per_page] for i in range(0, max(len(expected), 1), per_page)]

    def test_the_count_is_read_from_the_batches_not_the_codes(self, shop_with_batches):
        listed = shop_codes(shop_with_batches)
        with CaptureQueriesContext(connection) as queries:
            assert listed.count() == sum(BATCH_SIZES)
        assert len(queries) == 1
        assert "vouchers_code" not in queries[0]["sql"]

    def test_a_slice_past_the_end_is_empty(self, shop_with_batches):
        assert list(shop_codes(shop_with_batches)[100:150]) == []

    def test_a_shop_without_codes_has_one_empty_page(self, shop_b):
        paginator = Paginator(shop_codes(shop_b.shop, tag="none such"), 50)
        assert paginator.count == 0
        assert list(paginator.page(1).object_list) == []

    def test_filtering_further_counts_the_codes_themselves(self, shop_with_batches):
        narrowed = shop_codes(shop_with_batches).filter(uses__gt=0)
        assert narrowed.count() == Code.objects.filter(uses__gt=0).count() == 4

    def test_claim_dates_are_paged_the_plain_way_and_agree(self, shop_with_batches):
        now = timezone.now()
        listed = shop_codes(shop_with_batches, claimed_from=now - timedelta(days=1), claimed_before=now + timedelta(1))
        assert listed.count() == len(list(listed)) == 4
        assert shop_codes(shop_with_batches, claimed_from=now + timedelta(days=1)).count() == 0
