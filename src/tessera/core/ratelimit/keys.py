"""The keys attempts are counted under: the signed-in user, the account a log-in names and the
client's IP address (IPv6 by its /64), and the short form a long key is stored as; and the
client's address as a request shows it (client_ip)."""

import hashlib
import ipaddress

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

# Longer keys are stored as their digest, so every counter name fits FailureCounter.key.
KEY_LENGTH = 64


def short_key(key: str) -> str:
    if len(key) <= KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def attempt_keys(
    user: AbstractBaseUser | AnonymousUser | None, address: str | None, *, unknown_address_shared: bool = True
) -> list[str]:
    """What a learner's redemption or check is counted under: the user's key, if signed in, and
    the address's. The address is whatever the caller knows of the client (client_ip() of a
    request; what a course platform reports); callers without one share one counter, "ip:unknown"
    (WSGI makes REMOTE_ADDR optional).

    `unknown_address_shared=False` is for a course platform's call that reports no learner
    address: the request's own address is the platform's server, no learner's, and the shared
    counter would make all of its learners one bucket that one guesser fills for everyone. Such
    an attempt counts under the learner's key alone (and under "ip:unknown" only when there is
    no signed-in learner either, so an attempt never goes uncounted)."""
    user_keys = [f"user:{user.pk}"] if user is not None and user.is_authenticated else []
    if not address and not unknown_address_shared and user_keys:
        return user_keys
    return [*user_keys, ip_key(address or "unknown")]


def login_keys(request: HttpRequest | None, username: str) -> list[str]:
    """The account's key (the username as typed, which is how Django looks it up) and the client
    IP's key, apart from the redemption keys: failed log-ins and failed codes have limits of
    their own. Unknown usernames get a key too, so a refusal tells nothing of who exists."""
    user_keys = [f"login:user:{username}"] if username else []
    address = client_ip(request) if request is not None else None
    return [*user_keys, "login:" + ip_key(address or "unknown")]


def ip_key(address: str) -> str:
    """IPv4 addresses as they are; IPv6 addresses by their /64 network, since one subscriber
    commonly holds a whole /64 and could otherwise pick a fresh address for every attempt."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind TESSERA_TRUSTED_PROXIES = N proxies the N-th
    address from the right of X-Forwarded-For. Each proxy appends the address it was reached
    from; whatever stands further left came from the client and may be forged. None when the
    request carries no address at all."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = int(settings.TESSERA_TRUSTED_PROXIES)
    if proxies == 0:
        return remote
    entries = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", proxies)
    # Fewer entries than proxies: the request skipped the outer ones, and all entries are theirs.
    return _address(entries[-min(proxies, len(entries))]) or remote


def _address(entry: str) -> str | None:
    """An address from "203.0.113.9", "203.0.113.9:4711" or "[2001:db8::1]:443"; None if not one."""
    entry = entry.strip()
    if entry.startswith("["):
        inside, bracket, _ = entry[1:].partition("]")
        entry = inside if bracket else ""
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None
