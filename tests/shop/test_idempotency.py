"""Idempotency-Key: a retried order is answered, not executed twice."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tessera.shop.models import IdempotencyKey
from tessera.vouchers.models import Batch, Code
from tests.concurrency import race

URL = "/bridges/shop/vouchers"
ORDER = {"qty": "3", "product": "course_reactivation", "country": "DE"}


def order(client, persona, key, **changes):
    return client.post(URL, {**ORDER, **changes}, HTTP_IDEMPOTENCY_KEY=key, **persona.auth)


class TestIdempotencyKey:
    def test_the_same_order_twice_is_answered_with_the_first_response(self, client, shop_a):
        first = order(client, shop_a, "order-1")
        again = order(client, shop_a, "order-1")
        assert again.status_code == first.status_code == 200
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert Batch.objects.count() == 1
        assert Code.objects.count() == 3

    def test_another_body_with_the_same_key_is_refused(self, client, shop_a):
        order(client, shop_a, "order-1")
        response = order(client, shop_a, "order-1", qty="4")
        assert response.status_code == 422
        assert response.json() == {"errors": {"idempotency_key": ["used for another request"]}}
        assert Code.objects.count() == 3

    def test_another_query_string_with_the_same_key_is_refused(self, client, shop_a):
        order(client, shop_a, "order-1")
        response = client.post(f"{URL}?qty=4", ORDER, HTTP_IDEMPOTENCY_KEY="order-1", **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {"idempotency_key": ["used for another request"]}}
        assert Code.objects.count() == 3

    def test_a_key_still_running_is_a_conflict(self, client, shop_a, monkeypatch):
        from tessera.shop import bridge

        real_create = bridge.shop_vouchers_create
        answers_meanwhile = []

        def create_while_the_shop_retries(**kwargs):
            answers_meanwhile.append(order(Client(), shop_a, "order-1"))
            return real_create(**kwargs)

        monkeypatch.setattr(bridge, "shop_vouchers_create", create_while_the_shop_retries)
        assert order(client, shop_a, "order-1").status_code == 200
        [retry] = answers_meanwhile
        assert retry.status_code == 409
        assert retry.json() == {"errors": {"base": ["A request with this Idempotency-Key is still running."]}}
        assert Batch.objects.count() == 1

    def test_keys_belong_to_one_shop(self, client, shop_a, shop_b):
        order(client, shop_a, "order-1")
        order(client, shop_b, "order-1")
        assert Batch.objects.count() == 2

    def test_a_failed_request_leaves_the_key_free(self, client, shop_a):
        assert order(client, shop_a, "order-1", country="XX").status_code == 422
        assert not IdempotencyKey.objects.exists()

    def test_after_24_hours_a_key_may_be_used_afresh(self, client, shop_a):
        order(client, shop_a, "order-1")
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
        response = order(client, shop_a, "order-1")
        assert response.status_code == 200
        assert "Idempotent-Replayed" not in response
        assert Batch.objects.count() == 2

    def test_a_key_is_kept_for_at_least_24_hours(self, client, shop_a):
        order(client, shop_a, "order-1")
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
        assert order(client, shop_a, "order-1")["Idempotent-Replayed"] == "true"

    def test_an_overlong_key_is_invalid(self, client, shop_a):
        response = order(client, shop_a, "k" * 256)
        assert response.status_code == 422
        assert not Code.objects.exists()

    def test_void_is_idempotent_too(self, client, shop_a):
        [voucher] = client.post(URL, {**ORDER, "qty": "1"}, **shop_a.auth).json()
        void = f"{URL}/{voucher['id']}/void"
        first = client.post(void, HTTP_IDEMPOTENCY_KEY="refund-1", **shop_a.auth)
        again = client.post(void, HTTP_IDEMPOTENCY_KEY="refund-1", **shop_a.auth)
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_retries_of_one_order_create_it_once(shop_a):
    statuses = race([lambda: order(Client(), shop_a, "order-1").status_code] * 8)
    assert Batch.objects.count() == 1
    assert Code.objects.count() == 3
    assert set(statuses) <= {"200", "409"}
    assert statuses["200"] >= 1
