"""The GeoIP interface: nothing configured places nobody; a MaxMind file places addresses."""

import logging
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from tessera.core import geoip


@pytest.fixture
def country_database(tmp_path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"registered_country": {"iso_code": "FR"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"city": {"name": "nowhere"}})
    path = tmp_path / "countries.mmdb"
    writer.to_db_file(str(path))
    return path


class TestNullGeoIP:
    def test_places_nobody(self):
        assert geoip.NullGeoIP().country("203.0.113.9") is None

    def test_is_the_default(self, settings):
        settings.TESSERA_GEOIP_DATABASE = ""
        geoip.geoip.cache_clear()
        assert isinstance(geoip.geoip(), geoip.NullGeoIP)


class TestMaxMindGeoIP:
    def test_places_an_address_in_its_country(self, country_database):
        places = geoip.MaxMindGeoIP(country_database)
        assert places.country("203.0.113.9") == "DE"
        assert places.country("2001:db8::1") == "FR"

    @pytest.mark.parametrize("address", ["192.0.2.1", "198.51.100.4", "not an address", "", None, "999.1.1.1"])
    def test_unknown_or_malformed_addresses_are_unplaced(self, country_database, address):
        assert geoip.MaxMindGeoIP(country_database).country(address) is None

    def test_is_chosen_by_settings(self, settings, country_database):
        settings.TESSERA_GEOIP_DATABASE = str(country_database)
        geoip.geoip.cache_clear()
        try:
            assert geoip.geoip().country("203.0.113.200") == "DE"
        finally:
            geoip.geoip.cache_clear()


class TestAnUnreadableDatabase:
    @pytest.fixture(params=["missing", "garbage"])
    def unreadable(self, request, tmp_path: Path) -> Path:
        path = tmp_path / "countries.mmdb"
        if request.param == "garbage":
            path.write_bytes(b"\x00\xffnot a MaxMind database\x17" * 64)
        return path

    def test_is_logged_once_and_places_nobody(self, settings, caplog, unreadable):
        settings.TESSERA_GEOIP_DATABASE = str(unreadable)
        geoip.geoip.cache_clear()
        try:
            with caplog.at_level(logging.ERROR, logger="tessera.core.geoip"):
                assert geoip.geoip().country("203.0.113.9") is None
                assert geoip.geoip().country("203.0.113.9") is None
            assert isinstance(geoip.geoip(), geoip.NullGeoIP)
        finally:
            geoip.geoip.cache_clear()
        errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
        assert len(errors) == 1
        assert str(unreadable) in errors[0]
