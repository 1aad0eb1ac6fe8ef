"""Where a webhook may go: a guard against server-side request forgery.

A webhook URL is chosen by whoever configures a shop or a course platform, and Tessera's worker
POSTs to it from inside the hosting network; without a guard, a URL naming 127.0.0.1, 10.0.0.5 or the cloud
metadata address 169.254.169.254 would make Tessera a messenger to machines the internet cannot
reach. So a host's addresses are checked when its URL is saved and again at every attempt (the
name may resolve elsewhere by then), and the sender connects to the very address it checked.

TESSERA_WEBHOOK_ALLOW_PRIVATE=on lets loopback and private addresses through, for installations
whose shops or platforms live on the same network (and for tests, whose receivers listen on 127.0.0.1).
Link-local (the metadata service), multicast, unspecified and reserved addresses stay refused.
"""

import contextlib
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from urllib.parse import urlsplit

from django.conf import settings

from tessera.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# getaddrinfo has no timeout of its own: it runs in one of a few threads, and the attempt waits
# for it only until its deadline (the thread ends when the resolver gives up, by its own timeout).
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class WebhookUrlForbidden(InvalidInput):
    code = "webhook_url_forbidden"
    default_message = (
        "The webhook URL points at a loopback, private, link-local, multicast or reserved address;"
        " webhooks go to public addresses only."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="webhook_url")


class CouldNotResolve(Exception):
    """The name has no address (yet), or the resolver did not answer in time."""


def address_forbidden(address: IPAddress) -> bool:
    """True for every address a webhook must not reach; an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
    is judged as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        return True
    if address.is_loopback:  # before "reserved", which ::1 is too
        return not settings.TESSERA_WEBHOOK_ALLOW_PRIVATE
    if address.is_reserved:
        return True
    if address.is_private or not address.is_global:
        return not settings.TESSERA_WEBHOOK_ALLOW_PRIVATE
    return False


def resolve(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal is its own), within `timeout` seconds."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=max(timeout, 0.01))
    except (OSError, UnicodeError, ResolveTimeout) as error:
        raise CouldNotResolve(f"{host}: {error!r}") from error
    # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def allowed_addresses(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """The host's addresses, all of them allowed; WebhookUrlForbidden if any one is not, since
    whichever address is tried first must not decide whether the guard holds."""
    addresses = resolve(host, port, timeout=timeout)
    if any(address_forbidden(address) for address in addresses):
        raise WebhookUrlForbidden()
    return addresses


def webhook_url_destination_check(url: str) -> None:
    """At save time: refuses a URL whose host resolves to a forbidden address. A name that does not
    resolve yet is let through: every attempt checks again before it connects."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    with contextlib.suppress(CouldNotResolve):
        allowed_addresses(parts.hostname or "", port, timeout=settings.TESSERA_WEBHOOK_TIMEOUT)


WEBHOOK_SCHEMES = {"http", "https"}


def webhook_url_checked(url: str) -> str:
    """An absolute http or https URL with a host, or InvalidInput; WebhookUrlForbidden if the host
    resolves to an address webhooks may not go to. The caller strips it and checks its length
    against its own column."""
    try:
        parts = urlsplit(url)
        well_formed = parts.scheme.lower() in WEBHOOK_SCHEMES and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or a malformed IPv6 host
        well_formed = False
    # ASCII only: http.client writes the request line as ASCII (an IDN host goes in as punycode).
    if not well_formed or not url.isascii() or any(char.isspace() or not char.isprintable() for char in url):
        raise InvalidInput(
            "The webhook URL must be an http or https URL with a host, like https://hooks.example/tessera.",
            field="webhook_url",
        )
    webhook_url_destination_check(url)
    return url


def url_origin(url: str) -> str:
    """Where the webhooks go, without path, query or user info: a receiver's URL may carry a
    token of its own (https://hooks.example/T0/B0/XXXX, ?key=...), which the log must not keep."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host}{port}"
