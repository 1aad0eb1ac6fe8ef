"""The webhook receivers' lookup of a code's shop, written by hand (docs/architecture.md, "Where
Tessera writes SQL by hand"), finds the shop the ORM finds."""

from tessera.shop.models import Shop
from tessera.shop.receivers import _subscribed_shop
from tessera.shop.services import shop_vouchers_create
from tests.rows import columns_of


def shop_by_orm(code_id: str) -> Shop | None:
    return Shop.objects.filter(batches__batch__codes__code=code_id).exclude(webhook_url="").first()


class TestSubscribedShop:
    def test_finds_the_shop_the_orm_finds_or_none(self, shop_a, shop_b, enrollment_offer, make_batch):
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_url="https://shop-a.example/hooks")
        subscribed = shop_vouchers_create(shop=shop_a.shop, qty=2, product="enrollment", country="DE")
        silent = shop_vouchers_create(shop=shop_b.shop, qty=1, product="enrollment", country="DE")  # no webhook URL
        staffs = make_batch(enrollment_offer)  # no shop's
        codes = [code.pk for batch in (subscribed, silent, staffs) for code in batch.codes.all()]
        for code in [*codes, "NOSUCHCODE"]:
            assert columns_of(_subscribed_shop(code)) == columns_of(shop_by_orm(code))
        assert [_subscribed_shop(code) is not None for code in codes] == [True, True, False, False]
