"""What a shop's webhooks say and how they travel: the events' bodies, their signature, the sender.

A body is compact JSON, `{"id": uuid, "type": ..., "created_at": ..., "data": {...}}`, signed as
the Standard Webhooks specification says (https://www.standardwebhooks.com/), with its reference
library: `webhook-id` is the event's id (the same on every retry, so a receiver can drop repeats),
`webhook-timestamp` the moment of this attempt, and `webhook-signature` is `v1,<base64 HMAC-SHA256
of "id.timestamp.body">` under the shop's `whsec_` secret. The library on the receiving side
refuses a timestamp more than five minutes off, so a captured request cannot be replayed later.

The sender is the outside world: chosen by TESSERA_WEBHOOK_SENDER, the HTTP one by default;
tests put a recording one in its place.
"""

import base64
import http.client
import io
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import standardwebhooks
from django.conf import settings
from django.core import checks
from django.utils import timezone
from django.utils.module_loading import import_string

from tessera.shop import destinations, xikolo
from tessera.vouchers.models import Code, Redemption
from tessera.vouchers.selectors.codes import display_code

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's marker of a secret, not a secret


def new_secret() -> str:
    """32 random bytes in the specification's form, which every Standard Webhooks library reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_body(event_id: uuid.UUID, event_type: str, data: dict[str, Any], *, now: datetime | None = None) -> str:
    """The body as sent and signed: compact and ASCII-only, so the stored text is the bytes."""
    envelope = {"id": str(event_id), "type": event_type, "created_at": xikolo.wire_time(now or timezone.now()),
                "data": data}  # fmt: skip
    return json.dumps(envelope, separators=(",", ":"))


def request_headers(*, secret: str, body: bytes, event_id: str, sent_at: datetime) -> dict[str, str]:
    signature = standardwebhooks.Webhook(secret).sign(msg_id=event_id, timestamp=sent_at, data=body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Tessera-Webhooks/2",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


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
        "course_session": redemption.session.slug, "course": redemption.session.course.slug,
    }  # fmt: skip


def redeemed_data(redemption: Redemption) -> dict[str, Any]:
    """redemption: with code__batch__offer and session__course loaded."""
    return {**_voucher(redemption.code), **_claim(redemption)}


def reversed_data(redemption: Redemption, *, use_returned: bool) -> dict[str, Any]:
    return {**redeemed_data(redemption), "reversed_at": xikolo.wire_time(redemption.reversed_at),
            "use_returned": use_returned}  # fmt: skip


def voided_data(code: Code) -> dict[str, Any]:
    """code: with batch__offer loaded."""
    return {**_voucher(code), "voided_at": xikolo.wire_time(code.revoked_at)}


# --- the sender -----------------------------------------------------------------------------------

# What the delivery log says when no HTTP answer came, whatever the reason: refused, timed out,
# unreachable, reset, not HTTP. One text, so that the log cannot be used to find open ports; the
# reason goes to the server's log.
COULD_NOT_CONNECT = "Could not connect, or no complete answer in time."
FORBIDDEN_ADDRESS = "Not sent: the URL's host resolves to an address webhooks may not go to."


class SendFailed(Exception):
    """No HTTP answer at all; the message is what the delivery log may show."""


class Sender(Protocol):
    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POSTs `body` and answers the response's status; raises SendFailed without one."""


class HttpSender:
    """POSTs with http.client within one deadline for the whole attempt (resolving, connecting,
    sending, reading the answer's head), so a receiver that drips its answer a byte at a time
    holds a worker no longer than TESSERA_WEBHOOK_TIMEOUT. Redirects are answers, not followed:
    following one would re-send the signed body to an address the shop never configured."""

    def __init__(self, timeout: float | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout if timeout is not None else settings.TESSERA_WEBHOOK_TIMEOUT
        self.tls = tls or ssl.create_default_context()  # tests pass one that trusts their own certificate

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        deadline = time.monotonic() + self.timeout
        parts = urlsplit(url)
        https = parts.scheme.lower() == "https"
        host, port = parts.hostname or "", parts.port or (443 if https else 80)
        try:
            addresses = destinations.allowed_addresses(host, port, timeout=_left(deadline))
            connection = _PinnedConnection.to(
                host, port, addresses=addresses, deadline=deadline, tls=self.tls if https else None
            )
            try:
                target = parts.path or "/"
                connection.request("POST", f"{target}?{parts.query}" if parts.query else target, body, dict(headers))
                return int(connection.getresponse().status)
            finally:
                connection.close()
        except destinations.WebhookUrlForbidden:
            logger.warning("Webhook not sent: %s resolves to a forbidden address", host)
            raise SendFailed(FORBIDDEN_ADDRESS) from None
        except (destinations.CouldNotResolve, OSError, http.client.HTTPException, ValueError) as error:
            logger.info("Webhook to %s: no answer (%s: %s)", host, type(error).__name__, error)
            raise SendFailed(COULD_NOT_CONNECT) from error


def _left(deadline: float) -> float:
    """Seconds left before the deadline; TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the webhook attempt's deadline passed")
    return left


class _PinnedConnection(http.client.HTTPSConnection):
    """Connects to an address checked beforehand, never resolving the name again (a second lookup
    could answer differently), while the Host header and TLS (SNI, certificate) keep the name."""

    addresses: list[destinations.IPAddress]
    deadline: float
    tls: ssl.SSLContext | None

    @classmethod
    def to(
        cls, host: str, port: int, *, addresses: list[destinations.IPAddress], deadline: float,
        tls: ssl.SSLContext | None,
    ) -> "_PinnedConnection":  # fmt: skip
        connection = cls(host, port)
        connection.addresses, connection.deadline, connection.tls = addresses, deadline, tls
        connection.default_port = 443 if tls else 80  # the Host header names a port only when unusual
        return connection

    def connect(self) -> None:
        raw = self._open()
        if self.tls:
            raw.settimeout(_left(self.deadline))  # the handshake as a whole, not per read
            raw = self.tls.wrap_socket(raw, server_hostname=self.host)
        # http.client uses only sendall, makefile and close, which _DeadlineSocket has.
        self.sock = _DeadlineSocket(raw, self.deadline)

    def _open(self) -> socket.socket:
        """The first of the checked addresses that accepts a connection."""
        error: OSError = OSError("no address")
        for address in self.addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_left(self.deadline))
                sock.connect((str(address), self.port))  # an address, so no lookup happens here
                return sock
            except OSError as failed:
                sock.close()
                error = failed
        raise error


class _DeadlineSocket:
    """A socket whose every send and read may take only what is left of the attempt's deadline.
    A socket timeout alone limits each read, and a byte a second would never trip it."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_left(self.deadline))
        self.sock.sendall(data)

    def recv_into(self, buffer: Any) -> int:
        self.sock.settimeout(_left(self.deadline))
        return self.sock.recv_into(buffer)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self.sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.sock.recv_into(buffer)


def sender() -> Sender:
    chosen: Sender = import_string(settings.TESSERA_WEBHOOK_SENDER)()
    return chosen


@checks.register()
def check_webhook_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if settings.TESSERA_WEBHOOK_TIMEOUT < 1:
        problems.append(checks.Error("TESSERA_WEBHOOK_TIMEOUT is at least 1 (seconds).", id="tessera.E101"))
    if settings.TESSERA_WEBHOOK_LEASE <= settings.TESSERA_WEBHOOK_TIMEOUT:
        problems.append(
            checks.Error("TESSERA_WEBHOOK_LEASE is longer than TESSERA_WEBHOOK_TIMEOUT.", id="tessera.E103")
        )
    try:
        import_string(settings.TESSERA_WEBHOOK_SENDER)
    except ImportError as error:
        problems.append(checks.Error(f"TESSERA_WEBHOOK_SENDER cannot be imported: {error}", id="tessera.E102"))
    return problems
