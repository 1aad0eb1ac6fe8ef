"""The shop's copies of claimant addresses (tessera.shop.privacy): webhook bodies lose them when
addresses are purged or a learner is erased; old stored idempotent responses go."""

import json
from datetime import timedelta

from django.utils import timezone

from tessera.shop.models import IdempotencyKey, WebhookDelivery
from tessera.shop.privacy import on_addresses_purging, on_learner_erasing
from tessera.shop.tasks import webhook_event_record


def delivery(shop, ip: str, *, days_ago: int = 0) -> WebhookDelivery:
    data = {"id": "ABCD", "claimant_ip": ip, "claimant_country": "DE"}
    sent = webhook_event_record(shop=shop, event_type=WebhookDelivery.Event.REDEEMED, data=data)
    WebhookDelivery.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return sent


def data_of(sent: WebhookDelivery) -> dict[str, str]:
    return json.loads(WebhookDelivery.objects.get(pk=sent.pk).body)["data"]


class TestOnAddressesPurging:
    def test_bodies_written_before_the_cutoff_lose_the_address_and_keep_the_country(self, shop_a):
        old, new = delivery(shop_a.shop, "203.0.113.7", days_ago=400), delivery(shop_a.shop, "203.0.113.8")
        counts = on_addresses_purging(None, before=timezone.now() - timedelta(days=30))
        assert counts == {"webhook_deliveries": 1, "idempotent_responses": 0}
        assert data_of(old) == {"id": "ABCD", "claimant_ip": "", "claimant_country": "DE"}
        assert data_of(new)["claimant_ip"] == "203.0.113.8"

    def test_a_body_cleared_already_is_not_counted_again(self, shop_a):
        delivery(shop_a.shop, "203.0.113.7", days_ago=400)
        before = timezone.now() - timedelta(days=30)
        on_addresses_purging(None, before=before)
        assert on_addresses_purging(None, before=before)["webhook_deliveries"] == 0

    def test_idempotent_responses_older_than_the_cutoff_go(self, shop_a):
        for key, days_ago in (("old", 400), ("new", 0)):
            IdempotencyKey.objects.create(
                shop=shop_a.shop, key=key, fingerprint="f", created_at=timezone.now() - timedelta(days=days_ago)
            )
        counts = on_addresses_purging(None, before=timezone.now() - timedelta(days=30))
        assert counts["idempotent_responses"] == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


class TestOnLearnerErasing:
    def test_every_body_with_one_of_the_learners_addresses_loses_it(self, shop_a, learner):
        theirs = [delivery(shop_a.shop, "203.0.113.7"), delivery(shop_a.shop, "2001:db8::7", days_ago=2)]
        other = delivery(shop_a.shop, "203.0.113.70")  # starts like one of theirs
        counts = on_learner_erasing(None, user=learner, addresses={"203.0.113.7", "2001:db8::7"})
        assert counts == {"webhook_deliveries": 2}
        assert [data_of(sent)["claimant_ip"] for sent in theirs] == ["", ""]
        assert data_of(other)["claimant_ip"] == "203.0.113.70"

    def test_no_addresses_change_nothing(self, shop_a, learner):
        delivery(shop_a.shop, "203.0.113.7")
        assert on_learner_erasing(None, user=learner, addresses=set()) == {"webhook_deliveries": 0}
