"""The shop's copies of claimant addresses: webhook bodies (as sent) and idempotent responses.

Receivers of the vouchers' personal-data signals, run inside the purge's or erasure's
transaction (tessera.vouchers.services.privacy); each answers what it changed.
"""

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from tessera.shop.models import IdempotencyKey, WebhookDelivery

# Bodies are compact JSON (webhooks.event_body), so an address reads exactly like this.
ADDRESS_KEY = '"claimant_ip":"'


def on_addresses_purging(sender: object, *, before: datetime, **kwargs: Any) -> dict[str, int]:
    """Webhook bodies written before `before` lose their claimant_ip (claimant_country, already
    written, stays); stored idempotent responses that old are long past use and go."""
    sent = WebhookDelivery.objects.filter(created_at__lt=before, body__contains=ADDRESS_KEY)
    responses, _ = IdempotencyKey.objects.filter(created_at__lt=before).delete()
    return {"webhook_deliveries": _clear_addresses(sent.exclude(body__contains=ADDRESS_KEY + '"')),
            "idempotent_responses": responses}  # fmt: skip


def on_learner_erasing(sender: object, *, user: User, addresses: set[str], **kwargs: Any) -> dict[str, int]:
    """Bodies name the claimant by address only, so every body with one of the learner's
    addresses loses it: another learner behind the same address may lose theirs too, early."""
    cleared = sum(
        _clear_addresses(WebhookDelivery.objects.filter(body__contains=f'{ADDRESS_KEY}{address}"'))
        for address in addresses
    )
    return {"webhook_deliveries": cleared}


def _clear_addresses(deliveries: QuerySet[WebhookDelivery]) -> int:
    cleared = 0
    for pk, body in deliveries.values_list("pk", "body").iterator():
        envelope = json.loads(body)
        if envelope.get("data", {}).get("claimant_ip"):
            envelope["data"]["claimant_ip"] = ""
            cleared += WebhookDelivery.objects.filter(pk=pk).update(body=json.dumps(envelope, separators=(",", ":")))
    return cleared
