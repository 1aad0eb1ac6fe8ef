"""Migration 0005: batches that shops ordered before Batch.source existed are marked as theirs, and
no other batch is."""

import importlib

import pytest
from django.apps import apps

from tessera.shop.services import shop_vouchers_create
from tessera.vouchers.models import Batch, Product

SHOP, TESSERA = Batch.Source.SHOP, Batch.Source.TESSERA


@pytest.mark.django_db
def test_a_shops_batches_are_marked_and_tesseras_own_are_not(shop_a, make_batch, enrollment_offer, running_session):
    theirs = shop_vouchers_create(
        shop=shop_a.shop, qty=1, product=Product.ENROLLMENT, country="DE", session=running_session
    )
    ours = make_batch(enrollment_offer)
    Batch.objects.update(source=TESSERA)  # as every batch was before the field
    migration = importlib.import_module("tessera.shop.migrations.0005_batch_source")
    migration.mark_shop_batches(apps, None)
    assert dict(Batch.objects.values_list("pk", "source")) == {theirs.pk: SHOP, ours.pk: TESSERA}
