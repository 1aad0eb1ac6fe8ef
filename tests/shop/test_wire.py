"""The bridge's wire readers, and hostile input that once reached the database or Python's limits
and answered 500 (found by fuzzing the API; see tests/test_openapi.py)."""

import json
from datetime import UTC, datetime

import pytest

from tessera.shop import wire
from tessera.vouchers.models import Batch

URL = "/bridges/shop/vouchers"
ORDER = {"qty": 1, "product": "course_reactivation", "country": "DE"}


class TestRubyInteger:
    @pytest.mark.parametrize(
        ("value", "number"),
        [("5", 5), (" 7 apples", 7), ("2.7", 2), (2.7, 2), ("-3", -3), ("007", 7), ("abc", 0), (None, 0), (True, 0)],
    )
    def test_counts_are_read_as_xikolo_reads_them(self, value, number):
        assert wire.ruby_integer(value) == number

    def test_thousands_of_digits_read_as_a_count_past_every_limit(self):
        assert wire.ruby_integer("9" * 5000) > 1_000_000
        assert wire.ruby_integer("-" + "9" * 5000) < 0
        assert wire.ruby_integer("0" * 5000 + "5") == 5

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_a_number_that_is_not_finite_is_no_count(self, value):
        assert wire.ruby_integer(value) == 0


class TestMoment:
    def test_an_offset_is_read_into_utc(self):
        assert wire.moment("2030-01-01T12:00:00+02:00") == datetime(2030, 1, 1, 10, tzinfo=UTC)

    def test_a_naive_time_is_utc(self):
        assert wire.moment("2030-01-01T12:00:00") == datetime(2030, 1, 1, 12, tzinfo=UTC)

    @pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "soon"])
    def test_a_time_that_cannot_be_stored_is_none(self, value):
        assert wire.moment(value) is None


class TestHostileInput:
    def post(self, client, persona, raw):
        return client.post(URL, raw, content_type="application/json", **persona.auth)

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000])
    def test_numbers_json_does_not_have_are_invalid_json(self, client, shop_a, number):
        response = self.post(client, shop_a, f'{{"qty": {number}, "product": "course_reactivation", "country": "DE"}}')
        assert response.status_code == 422
        assert response.json() == {"errors": {"base": ["invalid JSON"]}}

    @pytest.mark.parametrize("field", ["tag", "course_session"])
    def test_nul_in_a_value_is_invalid_and_creates_nothing(self, client, shop_a, field):
        response = self.post(client, shop_a, json.dumps({**ORDER, field: "a\x00b"}))
        assert response.status_code == 422
        assert response.json() == {"errors": {field: ["invalid"]}}
        assert not Batch.objects.exists()

    def test_nul_in_a_form_value_is_invalid(self, client, shop_a):
        response = client.post(URL, {**ORDER, "tag": "a\x00b"}, **shop_a.auth)
        assert response.json() == {"errors": {"tag": ["invalid"]}}

    def test_an_expiry_past_year_9999_in_utc_is_invalid(self, client, shop_a):
        response = self.post(client, shop_a, json.dumps({**ORDER, "expires_at": "9999-12-31T23:59:59-23:59"}))
        assert response.status_code == 422
        assert response.json() == {"errors": {"expires_at": ["invalid"]}}
        assert not Batch.objects.exists()

    def test_an_expiry_with_an_offset_is_stored_in_utc(self, client, shop_a):
        response = self.post(client, shop_a, json.dumps({**ORDER, "expires_at": "2099-06-01T12:00:00+14:00"}))
        assert response.status_code == 200
        assert Batch.objects.get().expires_at == datetime(2099, 5, 31, 22, tzinfo=UTC)

    def test_nul_in_the_tag_filter_is_invalid(self, client, shop_a):
        response = client.get(URL, {"tag": "a\x00b"}, **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {"tag": ["invalid"]}}

    def test_an_end_date_on_the_last_day_there_is_means_no_end(self, client, shop_a):
        response = client.get(URL, {"end_date": "9999-12-31"}, **shop_a.auth)
        assert response.status_code == 200
        assert wire.day_after("9999-12-31", "end_date") > wire.day_start("9999-12-30", "end_date")

    def test_a_page_size_of_thousands_of_digits_is_capped(self, client, shop_a):
        response = client.get(URL, {"per_page": "9" * 5000}, **shop_a.auth)
        assert response.status_code == 200
        assert response["X-Per-Page"] == "100"
