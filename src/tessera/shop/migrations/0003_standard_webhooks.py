"""Webhooks signed as Standard Webhooks: secrets in the `whsec_<base64>` form, and a lease on the
attempt being sent.

Existing secrets are rewritten, not replaced: the old scheme used the 64 hex characters' ASCII
bytes as the HMAC key, and `whsec_` + base64 of those same bytes is that very key in the new
form. A shop therefore keeps its key and needs no secret handed over again (a replacement made
here could be shown to no one); it only switches its receiver to the new headers, and can work
out its new secret string from the old one. Rotating makes a fresh random one.
"""

import base64
import binascii
from typing import Any

from django.db import migrations, models

PREFIX = "whsec_"


def wrap_hex_secrets(apps: Any, schema_editor: Any) -> None:
    Shop = apps.get_model("shop", "Shop")
    for shop in Shop.objects.exclude(webhook_secret="").exclude(webhook_secret__startswith=PREFIX):
        shop.webhook_secret = PREFIX + base64.b64encode(shop.webhook_secret.encode()).decode()
        shop.save(update_fields=["webhook_secret"])


def unwrap_hex_secrets(apps: Any, schema_editor: Any) -> None:
    """Back to the old form where the key was an old secret; a newer random one cannot go back."""
    Shop = apps.get_model("shop", "Shop")
    for shop in Shop.objects.filter(webhook_secret__startswith=PREFIX):
        try:
            key = base64.b64decode(shop.webhook_secret[len(PREFIX) :], validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if len(key) == 64 and all(char in "0123456789abcdef" for char in key):
            shop.webhook_secret = key
            shop.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="sending_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="shop",
            name="webhook_secret",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(wrap_hex_secrets, unwrap_hex_secrets, elidable=False),
    ]
