"""What a shop's webhooks say: the events' bodies.

A body is compact JSON, `{"id": uuid, "type": ..., "created_at": ..., "data": {...}}`, signed and
sent as every webhook of Tessera's is (tessera.core.webhooks: Standard Webhooks, the shop's
`whsec_` secret, the SSRF-guarded sender).
"""

import json
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from tessera.shop import xikolo
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.selectors.codes import display_code


def event_body(event_id: uuid.UUID, event_type: str, data: dict[str, Any], *, now: datetime | None = None) -> str:
    """The body as sent and signed: compact and ASCII-only, so the stored text is the bytes."""
    envelope = {"id": str(event_id), "type": event_type, "created_at": xikolo.wire_time(now or timezone.now()),
                "data": data}  # fmt: skip
    return json.dumps(envelope, separators=(",", ":"))


# --- the events' data, as the bridge shows the same facts ---------------------------------------


def _voucher(code: Code) -> dict[str, Any]:
    batch = code.batch
    return {
        "id": display_code(code.code, batch.prefix), "product": xikolo.PRODUCT_ON_WIRE[batch.offer.product],
        "tag": batch.tag, "uses": code.uses, "max_uses": code.max_uses,
    }  # fmt: skip


def _claim(redemption: Redemption) -> dict[str, Any]:
    return {
        "claimed_at": xikolo.wire_time(redemption.redeemed_at), "claimant_ip": redemption.client_ip or "",
        "claimant_country": xikolo.claimant_country(redemption.client_ip),
        **xikolo.claim_place(redemption),
    }  # fmt: skip


def redeemed_data(redemption: Redemption) -> dict[str, Any]:
    """redemption: with code__batch__offer, session__course and assessment__course loaded."""
    return {**_voucher(redemption.code), **_claim(redemption)}


def reversed_data(redemption: Redemption, *, use_returned: bool) -> dict[str, Any]:
    return {**redeemed_data(redemption), "reversed_at": xikolo.wire_time(redemption.reversed_at),
            "use_returned": use_returned}  # fmt: skip


def voided_data(code: Code) -> dict[str, Any]:
    """code: with batch__offer loaded."""
    return {**_voucher(code), "voided_at": xikolo.wire_time(code.revoked_at)}
