"""Concurrent first orders of one shop, for real: threads with their own database connections."""

import pytest

from tessera.shop.models import ShopBatch, ShopOffer
from tessera.shop.services import shop_vouchers_create
from tests.vouchers.test_concurrency import race

ORDERS = 8


@pytest.mark.django_db(transaction=True)
class TestConcurrentOrders:
    def test_racing_first_orders_all_succeed_in_one_offer(self, shop_a):
        outcomes = race([
            lambda: shop_vouchers_create(shop=shop_a.shop, qty=2, product="reactivation", country="DE")
            for _ in range(ORDERS)
        ])  # fmt: skip
        assert outcomes == {"redeemed": ORDERS}  # race() names every success "redeemed"
        assert ShopOffer.objects.count() == 1
        assert ShopBatch.objects.count() == ORDERS
