"""Small things every staff page module uses."""

from collections.abc import Callable
from typing import TypeVar

from django.http import Http404

from tessera.core.errors import DoesNotExist
from tessera.vouchers.selectors.codes import Status

Found = TypeVar("Found")


def found_or_404(lookup: Callable[[int], Found], pk: int) -> Found:
    """A selector's `DoesNotExist` as the page's 404, in its own words."""
    try:
        return lookup(pk)
    except DoesNotExist as missing:
        raise Http404(missing.message) from None


# How each status reads on the page, and which of the stylesheet's status classes marks it.
STATUS_SHOWN: dict[str, tuple[str, str]] = {
    Status.UNUSED: ("Live, not used yet", "live"),
    Status.PARTLY_REDEEMED: ("Live, partly used", "live"),
    Status.REDEEMED: ("Used up", "exhausted"),
    Status.EXPIRED: ("Expired", "expired"),
    Status.REVOKED: ("Revoked", "revoked"),
}


def status_shown(status: str) -> tuple[str, str]:
    """How a code's status reads on a page, and the stylesheet's class (status-...) that marks it."""
    return STATUS_SHOWN[status]
