"""The bridge's wire readers, and hostile input that once reached the database or Python's limits
and answered 500 (found by fuzzing the API; see tests/test_openapi.py)."""

import json
from datetime import UTC, datetime

import pytest

from tessera.shop import xikolo
from tessera.shop.models import IdempotencyKey
from tessera.vouchers import codes
from tessera.vouchers.models import Batch, Code
from tessera.vouchers.services import voucher_redeem
from tests.shop.conftest import order

URL = "/bridges/shop/vouchers"
ORDER = {"qty": 1, "product": "course_reactivation", "country": "DE"}
DEEP_OBJECT = '{"tag":' * 1000 + '"x"' + "}" * 1000
DEEP_ARRAY = "[" * 1000 + "]" * 1000


class TestRubyInteger:
    @pytest.mark.parametrize(
        ("value", "number"),
        [("5", 5), (" 7 apples", 7), ("2.7", 2), (2.7, 2), ("-3", -3), ("007", 7), ("abc", 0), (None, 0), (True, 0)],
    )
    def test_counts_are_read_as_xikolo_reads_them(self, value, number):
        assert xikolo.ruby_integer(value) == number

    def test_thousands_of_digits_read_as_a_count_past_every_limit(self):
        assert xikolo.ruby_integer("9" * 5000) > 1_000_000
        assert xikolo.ruby_integer("-" + "9" * 5000) < 0
        assert xikolo.ruby_integer("0" * 5000 + "5") == 5

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_a_number_that_is_not_finite_is_no_count(self, value):
        assert xikolo.ruby_integer(value) == 0


class TestMoment:
    def test_an_offset_is_read_into_utc(self):
        assert xikolo.moment("2030-01-01T12:00:00+02:00") == datetime(2030, 1, 1, 10, tzinfo=UTC)

    def test_a_naive_time_is_utc(self):
        assert xikolo.moment("2030-01-01T12:00:00") == datetime(2030, 1, 1, 12, tzinfo=UTC)

    @pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "soon"])
    def test_a_time_that_cannot_be_stored_is_none(self, value):
        assert xikolo.moment(value) is None


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

    @pytest.mark.parametrize("raw", [DEEP_OBJECT, DEEP_ARRAY], ids=["object", "array"])
    @pytest.mark.parametrize("key", [{}, {"HTTP_IDEMPOTENCY_KEY": "order-1"}], ids=["once", "idempotent"])
    def test_json_nested_a_thousand_levels_deep_is_invalid_json(self, client, shop_a, raw, key):
        response = client.post(URL, raw, content_type="application/json", **key, **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {"base": ["invalid JSON"]}}
        assert not IdempotencyKey.objects.exists()  # nothing was done: a retry with the key runs afresh

    @pytest.mark.parametrize("field", ["tag", "course_session", "country"])
    @pytest.mark.parametrize("key", [{}, {"HTTP_IDEMPOTENCY_KEY": "order-1"}], ids=["once", "idempotent"])
    def test_a_lone_surrogate_in_a_value_is_invalid_and_creates_nothing(self, client, shop_a, field, key):
        raw = json.dumps(ORDER)[:-1] + f', "{field}": "a\\ud800b"}}'  # the six characters \ud800, as JSON sends them
        response = client.post(URL, raw, content_type="application/json", **key, **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {field: ["invalid"]}}
        assert not Batch.objects.exists()

    def test_a_surrogate_pair_is_one_character_and_welcome(self, client, shop_a):
        response = self.post(client, shop_a, json.dumps({**ORDER, "tag": "\U0001f600"}))
        assert response.status_code == 200
        assert Batch.objects.get().tag == "\U0001f600"

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
        response = client.get(URL, {"claimed": "true", "end_date": "9999-12-31"}, **shop_a.auth)
        assert response.status_code == 200
        assert xikolo.day_after("9999-12-31", "end_date") > xikolo.day_start("9999-12-30", "end_date")

    def test_a_page_size_of_thousands_of_digits_is_capped(self, client, shop_a):
        response = client.get(URL, {"per_page": "9" * 5000}, **shop_a.auth)
        assert response.status_code == 200
        assert response["X-Per-Page"] == "100"


# --- Xikolo's wire as Rails serves it: what an existing Xikolo shop relies on without knowing -----

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"


class TestRubyPageNumber:
    @pytest.mark.parametrize(
        ("value", "number"),
        [("2", 2), (" 3\n", 3), ("+4", 4), ("-1", -1), ("1_000", 1000), ("0x1f", 31), ("0b11", 3), ("010", 8),
         ("0o17", 15), ("0", 0)],
    )  # fmt: skip
    def test_a_page_is_read_as_rubys_integer_reads_it(self, value, number):
        assert xikolo.ruby_strict_integer(value) == number

    @pytest.mark.parametrize("value", ["", "abc", "2.5", "2 apples", "08", "1__0", "_1", "0x", "١٢", "1e3", "a\x00b"])
    def test_what_ruby_refuses_is_no_number(self, value):
        assert xikolo.ruby_strict_integer(value) is None

    def test_thousands_of_digits_read_as_a_page_past_every_limit(self):
        assert xikolo.ruby_strict_integer("9" * 5000) > xikolo.BIGINT
        assert xikolo.ruby_strict_integer("0" * 5000 + "5") == 5


class TestPagesAsXikoloAnswersThem:
    def test_a_page_past_the_end_is_empty_with_headers_for_that_page(self, client, shop_a):
        order(client, shop_a)
        response = client.get(URL, {"page": "5"}, **shop_a.auth)
        assert response.status_code == 200
        assert response.json() == []
        assert (response["X-Current-Page"], response["X-Total-Pages"], response["X-Total-Count"]) == ("5", "1", "3")
        assert response["X-Per-Page"] == "50"
        links = response["Link"]
        for rel, page in (("first", 1), ("prev", 4), ("last", 1)):
            assert f'page={page}>; rel="{rel}"' in links
        assert 'rel="next"' not in links

    def test_the_links_keep_every_other_parameter_as_sent(self, client, shop_a):
        """Each link is the request's own URL with its page replaced, the other parameters in
        their order and encoding (the list and the headers are pinned byte for byte here)."""
        order(client, shop_a, qty="120", tag="spring sale/ü")
        response = client.get(f"{URL}?tag=spring+sale%2F%C3%BC&page=2&per_page=50&x=1&x=2", **shop_a.auth)
        query = "tag=spring+sale%2F%C3%BC&page={}&per_page=50&x=1&x=2"
        links = ", ".join(f'<http://testserver{URL}?{query.format(n)}>; rel="{rel}"'
                          for rel, n in (("first", 1), ("prev", 1), ("next", 3), ("last", 3)))  # fmt: skip
        assert response["Link"] == links
        listed = Code.objects.filter(batch__tag="spring sale/ü").order_by("code")[50:100]
        batch = listed[0].batch
        assert response.content == json.dumps(
            [{"id": codes.format_code(c.code), "country": "DE", "product": "course_reactivation",
              "tag": "spring sale/ü", "created_at": batch.created_at.isoformat(timespec="milliseconds")[:23] + "Z"}
             for c in listed],
            separators=(",", ":"),
        ).encode()  # fmt: skip

    @pytest.mark.parametrize("page", ["0", "-1", "-0x10"])
    def test_a_page_below_1_is_not_found_as_in_xikolo(self, client, shop_a, page):
        order(client, shop_a)
        response = client.get(URL, {"page": page}, **shop_a.auth)
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM_TYPE
        problem = {"title": xikolo.PAGE_NOT_FOUND_TITLE, "detail": xikolo.PAGE_NOT_FOUND_DETAIL, "status": 404}
        assert response.json() == problem

    def test_a_page_whose_offset_no_database_can_take_is_not_found(self, client, shop_a):
        assert client.get(URL, {"page": str(2**63)}, **shop_a.auth).status_code == 404
        assert client.get(URL, {"page": str(2**63 // 50)}, **shop_a.auth).status_code == 200

    @pytest.mark.parametrize("page", ["", "abc", "2.5", "08"])
    def test_a_page_that_is_no_integer_is_the_first(self, client, shop_a, page):
        order(client, shop_a, qty="60")
        response = client.get(URL, {"page": page}, **shop_a.auth)
        assert (response["X-Current-Page"], len(response.json())) == ("1", 50)

    def test_a_page_in_rubys_other_notations_is_that_page(self, client, shop_a):
        order(client, shop_a, qty="60")
        response = client.get(URL, {"page": "0x2"}, **shop_a.auth)
        assert (response["X-Current-Page"], len(response.json())) == ("2", 10)

    @pytest.mark.parametrize("per_page", ["0", "-5", "abc", ""])
    def test_a_page_size_below_1_or_no_number_is_1(self, client, shop_a, per_page):
        order(client, shop_a)
        response = client.get(URL, {"per_page": per_page}, **shop_a.auth)
        assert (response["X-Per-Page"], response["X-Total-Pages"], len(response.json())) == ("1", "3", 1)

    def test_head_past_the_end_answers_the_same_headers(self, client, shop_a):
        order(client, shop_a)
        response = client.head(URL, {"page": "9"}, **shop_a.auth)
        assert (response.status_code, response["X-Current-Page"], response.content) == (200, "9", b"")


class TestQueryParametersOnPost:
    def test_a_create_reads_the_query_string_like_the_body(self, client, shop_a):
        response = client.post(f"{URL}?qty=2&country=FR", {"product": "course_reactivation"}, **shop_a.auth)
        assert response.status_code == 200
        assert [v["country"] for v in response.json()] == ["FR", "FR"]

    def test_the_query_string_wins_over_the_body_as_in_rails(self, client, shop_a):
        response = order(client, shop_a, qty="2", path=f"{URL}?qty=4&tag=query")
        assert [v["tag"] for v in response.json()] == ["query"] * 4

    def test_the_query_string_wins_over_a_json_body_too(self, client, shop_a):
        body = json.dumps({**ORDER, "qty": 2})
        response = client.post(f"{URL}?qty=3", body, content_type="application/json", **shop_a.auth)
        assert len(response.json()) == 3

    def test_nul_in_the_query_string_is_invalid_and_creates_nothing(self, client, shop_a):
        response = order(client, shop_a, path=f"{URL}?tag=a%00b")
        assert response.json() == {"errors": {"tag": ["invalid"]}}
        assert not Batch.objects.exists()


class TestClaimedAsXikoloReadsIt:
    @pytest.fixture
    def one_claimed(self, client, shop_a, ended_session, learner):
        ids = [v["id"] for v in order(client, shop_a, qty="2").json()]
        voucher_redeem(code=ids[0], user=learner, session=ended_session, client_ip="203.0.113.5")
        return ids

    def listed(self, client, persona, **params):
        response = client.get(URL, params, **persona.auth)
        assert response.status_code == 200
        return [v["id"] for v in response.json()]

    @pytest.mark.parametrize("word", ["true", "on", "t", "null", "1", "yes", "0", "no", "maybe"])
    def test_any_word_but_false_means_claimed(self, client, shop_a, one_claimed, word):
        assert self.listed(client, shop_a, claimed=word) == one_claimed[:1]

    @pytest.mark.parametrize("word", ["false", "False", " false "])
    def test_false_means_unclaimed(self, client, shop_a, one_claimed, word):
        assert self.listed(client, shop_a, claimed=word) == one_claimed[1:]

    @pytest.mark.parametrize("word", ["", "  "])
    def test_an_empty_claimed_is_no_filter(self, client, shop_a, one_claimed, word):
        assert self.listed(client, shop_a, claimed=word) == one_claimed

    @pytest.mark.parametrize("claimed", [None, "", " "])
    def test_dates_without_claimed_are_ignored(self, client, shop_a, one_claimed, claimed):
        dates = {"start_date": "2999-01-01", "end_date": "2999-01-02"}
        params = dates | ({} if claimed is None else {"claimed": claimed})
        assert self.listed(client, shop_a, **params) == one_claimed

    def test_malformed_dates_without_claimed_are_ignored_too(self, client, shop_a, one_claimed):
        assert self.listed(client, shop_a, start_date="yesterday", end_date="2026-13-45") == one_claimed

    def test_dates_with_claimed_filter_the_claims(self, client, shop_a, one_claimed):
        assert self.listed(client, shop_a, claimed="on", start_date="2999-01-01") == []


class TestJsonAsRailsRendersIt:
    def assert_rails_json(self, response, content_type=JSON_TYPE):
        assert response["Content-Type"] == content_type
        assert response.content == json.dumps(response.json(), separators=(",", ":")).encode()

    def test_created_listed_and_shown_vouchers_are_compact_utf_8_json(self, client, shop_a):
        created = order(client, shop_a, qty="2")
        self.assert_rails_json(created)
        self.assert_rails_json(client.get(URL, **shop_a.auth))
        self.assert_rails_json(client.get(f"{URL}/{created.json()[0]['id']}", **shop_a.auth))
        self.assert_rails_json(client.post(f"{URL}/{created.json()[0]['id']}/void", **shop_a.auth))

    def test_head_names_the_charset_too(self, client, shop_a):
        assert client.head(URL, **shop_a.auth)["Content-Type"] == JSON_TYPE

    def test_refusals_are_compact_utf_8_json(self, client, shop_a):
        self.assert_rails_json(client.post(URL, {"qty": "5"}, **shop_a.auth))
        self.assert_rails_json(client.post(URL, {"qty": "0"}, **shop_a.auth))
        self.assert_rails_json(client.get(URL, {"claimed": "true", "start_date": "soon"}, **shop_a.auth))
        self.assert_rails_json(client.get(f"{URL}/not-a-code", **shop_a.auth))
        self.assert_rails_json(client.post(URL, "{not json", content_type="application/json", **shop_a.auth))

    def test_idempotency_refusals_are_compact_utf_8_json(self, client, shop_a):
        order(client, shop_a, HTTP_IDEMPOTENCY_KEY="k")
        self.assert_rails_json(order(client, shop_a, qty="4", HTTP_IDEMPOTENCY_KEY="k"))
        self.assert_rails_json(order(client, shop_a, HTTP_IDEMPOTENCY_KEY="k" * 256))

    @pytest.mark.parametrize("token", [None, "0" * 64])
    def test_401s_are_compact_problem_json_in_utf_8(self, client, db, token):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        self.assert_rails_json(client.get(URL, **headers), PROBLEM_TYPE)

    def test_a_page_below_1_is_compact_problem_json_in_utf_8(self, client, shop_a):
        self.assert_rails_json(client.get(URL, {"page": "0"}, **shop_a.auth), PROBLEM_TYPE)


class TestErrorOrder:
    def test_missing_fields_are_listed_country_first_as_in_xikolo(self, client, shop_a):
        response = client.post(URL, {"qty": "5"}, **shop_a.auth)
        assert response.content == b'{"errors":{"country":["required"],"product":["required"]}}'

    def test_invalid_fields_are_listed_country_first_then_tesseras_own(self, client, shop_a):
        body = {"qty": 1, "product": "gift_card", "country": "XX", "course_session": "nope", "expires_at": "soon"}
        response = client.post(URL, json.dumps(body), content_type="application/json", **shop_a.auth)
        assert list(response.json()["errors"]) == ["country", "product", "course_session", "expires_at"]
