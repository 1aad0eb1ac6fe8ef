"""The shop bridge, as a Xikolo shop integration and our extensions use it."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tessera.catalog.models import Enrollment
from tessera.vouchers import codes
from tessera.vouchers.models import Batch, Code, Redemption
from tessera.vouchers.services import voucher_redeem

URL = "/bridges/shop/vouchers"
ISO_MS = "%Y-%m-%dT%H:%M:%S.%fZ"


def create(client, persona, **params):
    return client.post(URL, params, **persona.auth)


def create_json(client, persona, body):
    return client.post(URL, json.dumps(body), content_type="application/json", **persona.auth)


class TestCreate:
    def test_a_form_encoded_request_as_xikolo_shops_send_it(self, client, shop_a):
        response = create(client, shop_a, product="course_reactivation", qty="5", tag="shop", country="DE")
        assert response.status_code == 200
        vouchers = response.json()
        assert len(vouchers) == 5
        assert all(list(v) == ["id", "country", "product", "tag", "created_at"] for v in vouchers)
        assert {(v["product"], v["country"], v["tag"]) for v in vouchers} == {("course_reactivation", "DE", "shop")}
        assert {codes.parse(v["id"]) for v in vouchers} == set(Code.objects.values_list("code", flat=True))
        datetime.strptime(vouchers[0]["created_at"], ISO_MS)

    def test_a_json_request_with_a_lower_case_country(self, client, shop_a):
        response = create_json(client, shop_a, {"qty": 2, "product": "proctoring_smowl", "country": "fr"})
        assert response.status_code == 200
        assert [v["country"] for v in response.json()] == ["FR", "FR"]
        assert Batch.objects.get().tag == "untagged"

    def test_product_type_is_read_like_product(self, client, shop_a):
        response = create(client, shop_a, product_type="course_reactivation", qty="1", country="DE")
        assert response.status_code == 200

    @pytest.mark.parametrize("qty", [None, "0", "abc", "-3"])
    def test_no_quantity_is_refused_as_xikolo_does(self, client, shop_a, qty):
        params = {"product": "course_reactivation", "country": "DE"} | ({"qty": qty} if qty is not None else {})
        response = create(client, shop_a, **params)
        assert response.status_code == 422
        assert response.json() == {"errors": {"base": ["Number must at least be 1"]}}
        assert not Code.objects.exists()

    def test_more_than_500_is_too_many(self, client, shop_a):
        response = create(client, shop_a, product="course_reactivation", qty="501", country="DE")
        assert response.status_code == 422
        assert response.json() == {"errors": {"base": ["Too many vouchers requested"]}}

    def test_missing_fields_are_required(self, client, shop_a):
        response = create(client, shop_a, qty="5")
        assert response.status_code == 422
        assert response.json() == {"errors": {"country": ["required"], "product": ["required"]}}

    def test_an_unknown_product_is_invalid(self, client, shop_a):
        response = create(client, shop_a, qty="5", product="gift_card", country="DE")
        assert response.json() == {"errors": {"product": ["invalid"]}}

    def test_an_unknown_country_is_invalid(self, client, shop_a):
        response = create(client, shop_a, qty="5", product="course_reactivation", country="XX")
        assert response.status_code == 422
        assert response.json() == {"errors": {"country": ["invalid"]}}
        assert not Batch.objects.exists()

    def test_malformed_json_is_a_clear_error(self, client, shop_a):
        response = client.post(URL, "{not json", content_type="application/json", **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {"base": ["invalid JSON"]}}

    def test_extensions_bind_a_session_an_expiry_and_uses(self, client, shop_a, running_session):
        expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        response = create_json(client, shop_a, {
            "qty": 1, "product": "course_enrollment", "country": "DE",
            "course_session": running_session.slug, "expires_at": expires, "uses": 3,
        })  # fmt: skip
        assert response.status_code == 200
        batch = Batch.objects.get()
        assert (batch.offer.session, batch.uses_per_code) == (running_session, 3)
        assert batch.expires_at is not None

    def test_bad_extension_values_are_invalid(self, client, shop_a):
        response = create_json(client, shop_a, {
            "qty": 1, "product": "course_enrollment", "country": "DE", "course_session": "nope",
            "expires_at": "soon",
        })  # fmt: skip
        assert response.json() == {"errors": {"course_session": ["invalid"], "expires_at": ["invalid"]}}

    def test_a_session_that_does_not_offer_the_product_is_invalid(self, client, shop_a, running_session):
        response = create_json(client, shop_a, {
            "qty": 1, "product": "course_reactivation", "country": "DE", "course_session": running_session.slug,
        })  # fmt: skip
        assert response.status_code == 422
        assert response.json() == {"errors": {"product": ["invalid"]}}

    def test_a_repeat_order_reuses_the_shops_offer(self, client, shop_a):
        create(client, shop_a, qty="1", product="course_reactivation", country="DE")
        create(client, shop_a, qty="1", product="course_reactivation", country="DE")
        assert Batch.objects.values("offer").distinct().count() == 1


class TestList:
    def test_a_shop_sees_only_its_own_vouchers(self, client, shop_a, shop_b):
        create(client, shop_a, qty="3", product="course_reactivation", country="DE")
        create(client, shop_b, qty="2", product="course_reactivation", country="DE")
        assert len(client.get(URL, **shop_a.auth).json()) == 3
        assert len(client.get(URL, **shop_b.auth).json()) == 2

    def test_pages_carry_links_and_totals(self, client, shop_a):
        create(client, shop_a, qty="120", product="course_reactivation", country="DE")
        response = client.get(URL, {"page": "2"}, **shop_a.auth)
        assert len(response.json()) == 50
        assert (response["X-Total-Count"], response["X-Total-Pages"]) == ("120", "3")
        assert (response["X-Per-Page"], response["X-Current-Page"]) == ("50", "2")
        links = response["Link"]
        for rel, page in (("first", 1), ("prev", 1), ("next", 3), ("last", 3)):
            assert f'page={page}>; rel="{rel}"' in links

    def test_pages_are_stable_and_disjoint(self, client, shop_a):
        create(client, shop_a, qty="120", product="course_reactivation", country="DE")
        seen = [v["id"] for page in (1, 2, 3) for v in client.get(URL, {"page": page}, **shop_a.auth).json()]
        assert len(seen) == len(set(seen)) == 120

    def test_per_page_is_capped_at_100(self, client, shop_a):
        create(client, shop_a, qty="120", product="course_reactivation", country="DE")
        response = client.get(URL, {"per_page": "500"}, **shop_a.auth)
        assert len(response.json()) == 100
        assert response["X-Per-Page"] == "100"

    def test_head_answers_the_headers_without_a_body(self, client, shop_a):
        create(client, shop_a, qty="3", product="course_reactivation", country="DE")
        response = client.head(URL, **shop_a.auth)
        assert response.status_code == 200
        assert response["X-Total-Count"] == "3"
        assert response.content == b""

    def test_tag_filters(self, client, shop_a):
        create(client, shop_a, qty="2", product="course_reactivation", country="DE", tag="spring")
        create(client, shop_a, qty="1", product="course_reactivation", country="DE", tag="autumn")
        assert {v["tag"] for v in client.get(URL, {"tag": "spring"}, **shop_a.auth).json()} == {"spring"}

    @pytest.mark.parametrize(
        "params",
        [{}, {"claimed": "true"}, {"claimed": "false"}, {"tag": "spring"}, {"tag": "spring", "claimed": "false"},
         {"claimed": "true", "start_date": "2026-01-01"}, {"claimed": "true", "end_date": "2099-12-31"},
         {"claimed": "true", "start_date": "2026-01-01", "end_date": "2099-12-31"}, {"page": "3", "per_page": "1"},
         {"page": "99"}],
    )  # fmt: skip
    def test_a_page_takes_two_statements_whatever_the_filters(
        self, client, shop_a, ended_session, learner, django_assert_num_queries, params
    ):
        """The token's shop, then the page with its count in one (issue 16); a HEAD the count alone."""
        ids = [v["id"] for v in create(client, shop_a, qty="3", product="course_reactivation", country="DE").json()]
        create(client, shop_a, qty="2", product="course_reactivation", country="DE", tag="spring")
        voucher_redeem(code=ids[1], user=learner, session=ended_session, client_ip="203.0.113.5")
        for method in (client.get, client.head):
            with django_assert_num_queries(2):
                assert method(URL, params, **shop_a.auth).status_code == 200


class TestClaims:
    @pytest.fixture
    def claimed_and_not(self, client, shop_a, ended_session, learner):
        ids = [v["id"] for v in create(client, shop_a, qty="2", product="course_reactivation", country="DE").json()]
        voucher_redeem(code=ids[0], user=learner, session=ended_session, client_ip="203.0.113.5")
        return ids

    def test_a_claimed_voucher_says_when_and_from_where(self, client, shop_a, claimed_and_not):
        listed = {v["id"]: v for v in client.get(URL, **shop_a.auth).json()}
        claimed = listed[claimed_and_not[0]]
        assert claimed["claimant_ip"] == "203.0.113.5"
        assert claimed["claimant_country"] == "AAA"  # no GeoIP database configured: Xikolo's "unknown"
        datetime.strptime(claimed["claimed_at"], ISO_MS)
        assert "claimed_at" not in listed[claimed_and_not[1]]

    def test_the_claimant_country_comes_from_the_geoip_database(self, client, shop_a, claimed_and_not, monkeypatch):
        class Places:
            def country(self, address: str | None) -> str | None:
                return {"203.0.113.5": "NL"}.get(address or "")

        monkeypatch.setattr("tessera.shop.xikolo.geoip", Places)
        listed = {v["id"]: v for v in client.get(URL, **shop_a.auth).json()}
        assert listed[claimed_and_not[0]]["claimant_country"] == "NL"

    def test_claimed_true_and_false_split_the_list(self, client, shop_a, claimed_and_not):
        assert [v["id"] for v in client.get(URL, {"claimed": "true"}, **shop_a.auth).json()] == claimed_and_not[:1]
        assert [v["id"] for v in client.get(URL, {"claimed": "false"}, **shop_a.auth).json()] == claimed_and_not[1:]

    def test_a_start_date_alone_works(self, client, shop_a, claimed_and_not):
        today = datetime.now(UTC).date().isoformat()
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert len(client.get(URL, {"claimed": "true", "start_date": today}, **shop_a.auth).json()) == 1
        assert client.get(URL, {"claimed": "true", "start_date": tomorrow}, **shop_a.auth).json() == []

    def test_an_end_date_alone_works(self, client, shop_a, claimed_and_not):
        today = datetime.now(UTC).date().isoformat()
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        assert len(client.get(URL, {"claimed": "true", "end_date": today}, **shop_a.auth).json()) == 1
        assert client.get(URL, {"claimed": "true", "end_date": yesterday}, **shop_a.auth).json() == []

    @pytest.mark.parametrize("params", [{"start_date": "yesterday"}, {"end_date": "2026-13-45"}])
    def test_malformed_dates_are_422_not_500(self, client, shop_a, params):
        response = client.get(URL, {"claimed": "true", **params}, **shop_a.auth)
        assert response.status_code == 422
        assert response.json() == {"errors": {next(iter(params)): ["invalid"]}}


class TestAssessmentVouchers:
    """A Tessera extension: product `assessment` names its assessment by slug, as course_session names a session."""

    def test_vouchers_for_an_assessment_are_redeemed_for_it_and_shown_with_it(self, client, shop_a, assessment,
                                                                              learner):  # fmt: skip
        response = create_json(client, shop_a, {"qty": 2, "product": "assessment", "country": "DE",
                                                "assessment": "python-exam"})  # fmt: skip
        assert response.status_code == 200
        first, _ = response.json()
        assert first["product"] == "assessment"
        assert Batch.objects.get().offer.assessment == assessment
        voucher_redeem(code=first["id"], user=learner, assessment=assessment)
        [claim] = client.get(f"{URL}/{first['id']}", **shop_a.auth).json()["redemptions"]
        assert (claim["course_session"], claim["course"], claim["assessment"]) == (None, "python", "python-exam")

    def test_each_assessment_gets_its_own_shop_offer(self, client, shop_a, assessment, lone_assessment):
        for slug in ("python-exam", "sql-placement", "python-exam"):
            create_json(client, shop_a, {"qty": 1, "product": "assessment", "country": "DE", "assessment": slug})
        assert sorted(Batch.objects.values_list("offer__assessment__slug", flat=True)) == [
            "python-exam",
            "python-exam",
            "sql-placement",
        ]
        assert len({batch.offer_id for batch in Batch.objects.all()}) == 2

    @pytest.mark.parametrize(
        ("body", "errors"),
        [({"assessment": "nope"}, {"assessment": ["invalid"]}),
         ({}, {"assessment": ["invalid"]}),
         ({"assessment": "python-exam", "course_session": "python-2026"}, {"assessment": ["invalid"]})],
    )  # fmt: skip
    def test_an_assessment_voucher_names_one_known_assessment(self, client, shop_a, assessment, running_session,
                                                              body, errors):  # fmt: skip
        response = create_json(client, shop_a, {"qty": 1, "product": "assessment", "country": "DE", **body})
        assert (response.status_code, response.json()) == (422, {"errors": errors})
        assert not Batch.objects.exists()


class TestOneVoucher:
    def test_a_shop_reads_its_voucher_with_where_it_was_redeemed(self, client, shop_a, ended_session, learner):
        [voucher] = create(client, shop_a, qty="1", product="course_reactivation", country="DE").json()
        voucher_redeem(code=voucher["id"], user=learner, session=ended_session)
        shown = client.get(f"{URL}/{voucher['id']}", **shop_a.auth).json()
        assert (shown["status"], shown["uses"], shown["max_uses"]) == ("redeemed", 1, 1)
        assert shown["redemptions"][0]["course_session"] == ended_session.slug

    def test_another_shops_voucher_does_not_exist(self, client, shop_a, shop_b):
        [voucher] = create(client, shop_a, qty="1", product="course_reactivation", country="DE").json()
        response = client.get(f"{URL}/{voucher['id']}", **shop_b.auth)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"

    def test_a_mistyped_code_is_refused_as_such(self, client, shop_a):
        response = client.get(f"{URL}/not-a-code", **shop_a.auth)
        assert response.status_code == 409
        assert response.json()["error"] == "mistyped"


class TestVoid:
    def test_voiding_a_redeemed_voucher_ends_the_entitlement_and_the_code(self, client, shop_a, ended_session, learner):
        [voucher] = create(client, shop_a, qty="1", product="course_reactivation", country="DE").json()
        voucher_redeem(code=voucher["id"], user=learner, session=ended_session)
        response = client.post(f"{URL}/{voucher['id']}/void", **shop_a.auth)
        assert response.status_code == 200
        assert response.json()["status"] == "revoked"
        assert Redemption.objects.get().reversed_at is not None
        assert not Enrollment.objects.get(user=learner).active

    def test_another_shop_cannot_void_it(self, client, shop_a, shop_b):
        [voucher] = create(client, shop_a, qty="1", product="course_reactivation", country="DE").json()
        assert client.post(f"{URL}/{voucher['id']}/void", **shop_b.auth).status_code == 404
        assert not Code.objects.filter(revoked_at__isnull=False).exists()
