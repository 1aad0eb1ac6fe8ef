"""Where an address is: the country of a redeeming learner's IP, for shops that ask "where".

The outside world behind a small interface (settings.TESSERA_GEOIP_DATABASE): with no database
configured every address is unplaced (None); with a MaxMind-format file (GeoLite2-Country or
GeoIP2-Country, .mmdb) addresses are looked up in it, read once per process. A file that is
missing or unreadable is logged once and places nobody, rather than failing every redemption.
"""

import ipaddress
import logging
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import maxminddb
from django.conf import settings

logger = logging.getLogger(__name__)


class GeoIP(Protocol):
    def country(self, address: str | None) -> str | None:
        """The ISO 3166 alpha-2 code of the address's country, or None if it cannot be placed."""


class NullGeoIP:
    def country(self, address: str | None) -> str | None:
        return None


class MaxMindGeoIP:
    def __init__(self, path: Path) -> None:
        self._reader = maxminddb.open_database(str(path))

    def country(self, address: str | None) -> str | None:
        try:
            record: Any = self._reader.get(ipaddress.ip_address(address or ""))
        except ValueError:  # not an address, or IPv6 in an IPv4-only database
            return None
        if not isinstance(record, dict):
            return None
        place = record.get("country") or record.get("registered_country") or {}
        code = place.get("iso_code") if isinstance(place, dict) else None
        return code if isinstance(code, str) else None


@cache
def geoip() -> GeoIP:
    path = settings.TESSERA_GEOIP_DATABASE
    if not path:
        return NullGeoIP()
    try:
        return MaxMindGeoIP(Path(path))
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as error:
        logger.error("TESSERA_GEOIP_DATABASE %s cannot be read, so no address is placed: %s", path, error)
        return NullGeoIP()
