"""What a shop's webhooks say and how they travel: the events' bodies, their signature, the sender.

A body is compact JSON, `{"id": uuid, "type": ..., "created_at": ..., "data": {...}}`, signed
with HMAC-SHA256 over its exact bytes with the shop's secret and sent as
`Tessera-Signature: sha256=<hex>`. The event id is in the signed body, so a receiver that keeps
the ids it has seen (which at-least-once delivery asks of it anyway) also turns away a replayed
request.

The sender is the outside world: chosen by TESSERA_WEBHOOK_SENDER, the HTTP one by default;
tests put a recording one in its place.
"""

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core import checks
from django.utils import timezone
from django.utils.module_loading import import_string

from tessera.shop import wire
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.selectors import display_code

SIGNATURE_HEADER = "Tessera-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event_id: uuid.UUID, event_type: str, data: dict[str, Any], *, now: datetime | None = None) -> str:
    """The body as sent and signed: compact and ASCII-only, so the stored text is the bytes."""
    envelope = {"id": str(event_id), "type": event_type, "created_at": wire.wire_time(now or timezone.now()),
                "data": data}  # fmt: skip
    return json.dumps(envelope, separators=(",", ":"))


def request_headers(*, secret: str, body: bytes, event_type: str, event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Tessera-Webhooks/1",
        SIGNATURE_HEADER: signature(secret, body),
        "Tessera-Event": event_type,
        "Tessera-Event-Id": event_id,
    }


# --- the events' data, as the bridge shows the same facts ---------------------------------------


def _voucher(code: Code) -> dict[str, Any]:
    batch = code.batch
    return {
        "id": display_code(code.code, batch.prefix), "product": wire.PRODUCT_ON_WIRE[batch.offer.product],
        "tag": batch.tag, "uses": code.uses, "max_uses": code.max_uses,
    }  # fmt: skip


def _claim(redemption: Redemption) -> dict[str, Any]:
    return {
        "claimed_at": wire.wire_time(redemption.redeemed_at), "claimant_ip": redemption.client_ip or "",
        "claimant_country": wire.claimant_country(redemption.client_ip),
        "course_session": redemption.session.slug, "course": redemption.session.course.slug,
    }  # fmt: skip


def redeemed_data(redemption: Redemption) -> dict[str, Any]:
    """redemption: with code__batch__offer and session__course loaded."""
    return {**_voucher(redemption.code), **_claim(redemption)}


def reversed_data(redemption: Redemption, *, use_returned: bool) -> dict[str, Any]:
    return {**redeemed_data(redemption), "reversed_at": wire.wire_time(redemption.reversed_at),
            "use_returned": use_returned}  # fmt: skip


def voided_data(code: Code) -> dict[str, Any]:
    """code: with batch__offer loaded."""
    return {**_voucher(code), "voided_at": wire.wire_time(code.revoked_at)}


# --- the sender -----------------------------------------------------------------------------------


class SendFailed(Exception):
    """No HTTP answer at all: the address did not resolve, the connection failed or timed out."""


class Sender(Protocol):
    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POSTs `body` and answers the response's status; raises SendFailed without one."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not delivery: following it would re-send the signed body as a
    GET (301, 302) or to an address the shop never configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSender:
    """POSTs with urllib and a short timeout, so a slow shop holds up one worker only briefly."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout if timeout is not None else settings.TESSERA_WEBHOOK_TIMEOUT
        self.opener = urllib.request.build_opener(_NoRedirects)

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 - http(s) only, checked when the URL was set
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as answer:  # any status urllib does not call success
            answer.close()
            return answer.code
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise SendFailed(f"{type(error).__name__}: {error}") from error


def sender() -> Sender:
    chosen: Sender = import_string(settings.TESSERA_WEBHOOK_SENDER)()
    return chosen


@checks.register()
def check_webhook_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if settings.TESSERA_WEBHOOK_TIMEOUT < 1:
        problems.append(checks.Error("TESSERA_WEBHOOK_TIMEOUT is at least 1 (seconds).", id="tessera.E101"))
    try:
        import_string(settings.TESSERA_WEBHOOK_SENDER)
    except ImportError as error:
        problems.append(checks.Error(f"TESSERA_WEBHOOK_SENDER cannot be imported: {error}", id="tessera.E102"))
    return problems
