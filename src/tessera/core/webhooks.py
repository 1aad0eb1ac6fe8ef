"""Webhooks as Tessera sends them, to shops and to course platforms alike: their signature and the
sender that carries them.

Each body is signed as the Standard Webhooks specification says (https://www.standardwebhooks.com/),
with its reference library: `webhook-id` is the event's id (the same on every retry, so a receiver
can drop repeats), `webhook-timestamp` the moment of this attempt, and `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the receiver's `whsec_` secret. The library
on the receiving side refuses a timestamp more than five minutes off, so a captured request cannot
be replayed later.

The sender is the outside world: chosen by TESSERA_WEBHOOK_SENDER, the HTTP one by default;
tests put a recording one in its place. What each event says is its app's business
(tessera.shop.webhooks, tessera.platforms.events).
"""

import base64
import http.client
import io
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import standardwebhooks
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from tessera.core import destinations

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's marker of a secret, not a secret


def new_secret() -> str:
    """32 random bytes in the specification's form, which every Standard Webhooks library reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def request_headers(*, secret: str, body: bytes, event_id: str, sent_at: datetime) -> dict[str, str]:
    signature = standardwebhooks.Webhook(secret).sign(msg_id=event_id, timestamp=sent_at, data=body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Tessera-Webhooks/2",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


# What a delivery log says when no HTTP answer came, whatever the reason: refused, timed out,
# unreachable, reset, not HTTP. One text, so that the log cannot be used to find open ports; the
# reason goes to the server's log.
COULD_NOT_CONNECT = "Could not connect, or no complete answer in time."
FORBIDDEN_ADDRESS = "Not sent: the URL's host resolves to an address webhooks may not go to."
# An answer's body is read (and dropped) to keep the connection for the next request, up to this.
MAX_ANSWER_KEPT = 64 * 1024


class SendFailed(Exception):
    """No HTTP answer at all; the message is what a delivery log may show."""


class Sender(Protocol):
    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POSTs `body` and answers the response's status; raises SendFailed without one."""

    def close(self) -> None:
        """Lets go of a connection kept for the next send, if any."""


class HttpSender:
    """POSTs with http.client within one deadline for the whole attempt (resolving, connecting,
    sending, reading the answer's head), so a receiver that drips its answer a byte at a time
    holds a worker no longer than TESSERA_WEBHOOK_TIMEOUT. Redirects are answers, not followed:
    following one would re-send the signed body to an address the receiver never configured.

    With `keep_alive`, the connection stays open after an answer that allows it, for the next send
    to the same scheme, host and port (a platform's events, sent one after another); it goes to the
    address checked when it was opened. `close()` ends it."""

    def __init__(
        self, timeout: float | None = None, tls: ssl.SSLContext | None = None, *, keep_alive: bool = False
    ) -> None:
        self.timeout = timeout if timeout is not None else settings.TESSERA_WEBHOOK_TIMEOUT
        self.tls = tls or ssl.create_default_context()  # tests pass one that trusts their own certificate
        self.keep_alive = keep_alive
        self._kept: _PinnedConnection | None = None
        self._kept_for: tuple[str, str, int] | None = None

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        deadline = time.monotonic() + self.timeout
        parts = urlsplit(url)
        https = parts.scheme.lower() == "https"
        host, port = parts.hostname or "", parts.port or (443 if https else 80)
        origin = (parts.scheme.lower(), host, port)
        try:
            if self._kept is not None and self._kept_for == origin:
                try:
                    return self._post(self._kept, parts, body, headers, deadline)
                except (OSError, http.client.HTTPException):
                    self.close()  # closed by the receiver while idle, most likely: once more on a new one
            self.close()
            addresses = destinations.allowed_addresses(host, port, timeout=_left(deadline))
            connection = _PinnedConnection.to(
                host, port, addresses=addresses, deadline=deadline, tls=self.tls if https else None
            )
            self._kept, self._kept_for = connection, origin
            return self._post(connection, parts, body, headers, deadline)
        except destinations.WebhookUrlForbidden:
            logger.warning("Webhook not sent: %s resolves to a forbidden address", host)
            raise SendFailed(FORBIDDEN_ADDRESS) from None
        except (destinations.CouldNotResolve, OSError, http.client.HTTPException, ValueError) as error:
            self.close()
            logger.info("Webhook to %s: no answer (%s: %s)", host, type(error).__name__, error)
            raise SendFailed(COULD_NOT_CONNECT) from error
        except BaseException:
            self.close()  # whatever it was, no connection is left open behind it
            raise

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
        self._kept = self._kept_for = None

    def _post(
        self, connection: "_PinnedConnection", parts: SplitResult, body: bytes, headers: Mapping[str, str],
        deadline: float,
    ) -> int:  # fmt: skip
        connection.set_deadline(deadline)
        target = parts.path or "/"
        connection.request("POST", f"{target}?{parts.query}" if parts.query else target, body, dict(headers))
        answer = connection.getresponse()
        status = int(answer.status)
        if self.keep_alive and not answer.will_close:
            answer.read(MAX_ANSWER_KEPT)  # read to its end, or the connection cannot carry the next request
        if not (self.keep_alive and answer.isclosed() and not answer.will_close):
            self.close()
        return status


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

    def set_deadline(self, deadline: float) -> None:
        """Each attempt has its own, also on a connection kept from the one before."""
        self.deadline = deadline
        if isinstance(self.sock, _DeadlineSocket):
            self.sock.deadline = deadline

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
                # As http.client's own connect does: it writes a request's head and body apart, and
                # with Nagle's algorithm the body would wait for the receiver's delayed ACK (40 ms on
                # Linux), on every send over a kept connection after the first.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def sender(**options: Any) -> Sender:
    """The configured sender; `options` (keep_alive=True) go to its constructor."""
    chosen: Sender = import_string(settings.TESSERA_WEBHOOK_SENDER)(**options)
    return chosen


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
