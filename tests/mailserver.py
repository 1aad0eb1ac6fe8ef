"""A real SMTP server on this machine's loopback (aiosmtpd), for the tests that send mail: it
keeps every message it accepts and refuses, with 550, the addresses it is told to refuse."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.loopback import free_port

REFUSED = "nobody@refusing.example"


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class Inbox:
    """What the server accepted, in order; `refuse`: addresses answered 550 at RCPT; `busy`:
    addresses whose messages are answered 421 (try again later), closing the connection."""

    refuse: set[str] = field(default_factory=set)
    busy: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    def to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.to]

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.busy & {address.lower() for address in envelope.rcpt_tos}:
            return "421 4.3.2 Busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(to=list(envelope.rcpt_tos), message=parsed))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(*, refuse: Iterable[str] = (REFUSED,)) -> Iterator[tuple[Inbox, int]]:
    """A running server and its port; stopped on leaving."""
    inbox = Inbox(refuse={address.lower() for address in refuse})
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
