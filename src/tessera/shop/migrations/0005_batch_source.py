from django.db import migrations


def mark_shop_batches(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Batches that shops ordered before Batch.source existed are theirs too."""
    Batch = apps.get_model("vouchers", "Batch")
    ShopBatch = apps.get_model("shop", "ShopBatch")
    Batch.objects.filter(pk__in=ShopBatch.objects.values("batch_id")).update(source="shop")


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0018_batch_source"),
        ("shop", "0004_assessment_offers"),
    ]

    operations = [
        migrations.RunPython(mark_shop_batches, migrations.RunPython.noop),
    ]
