"""Concurrent orders and voids of one shop, for real: threads with their own database connections."""

import pytest

from tessera.shop.models import ShopBatch, ShopOffer
from tessera.shop.services import shop_voucher_void, shop_vouchers_create
from tessera.vouchers.models import AuditEvent, Code, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.concurrency import race

ORDERS = 8


@pytest.mark.django_db(transaction=True)
class TestConcurrentOrders:
    def test_racing_first_orders_all_succeed_in_one_offer(self, shop_a):
        outcomes = race([
            lambda: shop_vouchers_create(shop=shop_a.shop, qty=2, product="reactivation", country="DE")
            for _ in range(ORDERS)
        ], success="ordered")  # fmt: skip
        assert outcomes == {"ordered": ORDERS}
        assert ShopOffer.objects.count() == 1
        assert ShopBatch.objects.count() == ORDERS


@pytest.mark.django_db(transaction=True)
class TestVoidRacingRedemptions:
    def test_after_a_void_no_redemption_is_left_live(self, shop_a, ended_session, make_learners):
        batch = shop_vouchers_create(shop=shop_a.shop, qty=1, product="reactivation", country="DE", uses_per_code=8)
        code = batch.codes.get()
        learners = make_learners(7)
        outcomes = race([
            *[lambda user=user: voucher_redeem(code=code.code, user=user, session=ended_session) for user in learners],
            lambda: shop_voucher_void(shop=shop_a.shop, code=code),
        ], success="succeeded")  # fmt: skip
        assert not any(outcome.startswith("crash") for outcome in outcomes), outcomes
        assert Code.objects.get().revoked_at is not None
        assert not Redemption.objects.filter(reversed_at__isnull=True).exists()

    def test_two_voids_at_once_both_answer_and_revoke_once(self, shop_a, ended_session, learner):
        batch = shop_vouchers_create(shop=shop_a.shop, qty=1, product="reactivation", country="DE")
        code = batch.codes.get()
        voucher_redeem(code=code.code, user=learner, session=ended_session)
        outcomes = race([lambda: shop_voucher_void(shop=shop_a.shop, code=code) for _ in range(4)], success="voided")
        assert outcomes == {"voided": 4}
        assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).count() == 1
        assert AuditEvent.objects.filter(action=AuditEvent.Action.REVERSED).count() == 1
