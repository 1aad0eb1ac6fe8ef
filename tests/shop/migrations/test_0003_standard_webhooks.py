"""Migration 0003: the old hex webhook secrets become the same key in the Standard Webhooks form."""

import base64
import hashlib
import hmac
import importlib

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from tessera.core import webhooks
from tessera.shop.models import Shop
from tests.shop.webhooking import (
    signed,
)


@pytest.mark.django_db
class TestSecretMigration:
    """Secrets of the old scheme keep their key in the new form (migration 0003)."""

    migration = importlib.import_module("tessera.shop.migrations.0003_standard_webhooks")

    def test_an_old_hex_secret_becomes_the_same_key_in_the_whsec_form(self, shop_a, shop_b):
        old = "3f" * 32
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_secret=old)
        self.migration.wrap_hex_secrets(django_apps, None)
        shop_a.shop.refresh_from_db()
        assert shop_a.shop.webhook_secret == "whsec_" + base64.b64encode(old.encode()).decode()
        body, sent_at = b"{}", timezone.now()
        expected = hmac.new(old.encode(), f"ev.{int(sent_at.timestamp())}.".encode() + body, hashlib.sha256)
        headers = signed(shop_a.shop.webhook_secret, body, event_id="ev", sent_at=sent_at)
        assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()
        shop_b.shop.refresh_from_db()
        assert shop_b.shop.webhook_secret == ""  # a shop without a secret stays without one

    def test_going_back_restores_the_old_secret_and_leaves_new_ones(self, shop_a, shop_b):
        old, fresh = "3f" * 32, webhooks.new_secret()
        Shop.objects.filter(pk=shop_a.shop.pk).update(webhook_secret=old)
        Shop.objects.filter(pk=shop_b.shop.pk).update(webhook_secret=fresh)
        self.migration.wrap_hex_secrets(django_apps, None)
        self.migration.unwrap_hex_secrets(django_apps, None)
        assert list(Shop.objects.order_by("name").values_list("webhook_secret", flat=True)) == [old, fresh]
