"""A platform's learners over HTTP (tessera.platforms.learner_api): checking and redeeming codes
for a learner named by the platform's id, and listing what a learner holds; each platform sees
its own sessions and learners only, and rate limits count learners and their addresses, never
the platform's server."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tessera.core.models import FailureCounter
from tessera.platforms.models import PlatformLearner
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Product, Redemption
from tessera.vouchers.services import voucher_redeem

CHECK = "/api/v1/platform/codes/check"
REDEEM = "/api/v1/platform/redemptions"
SERVER = "192.0.2.10"  # the platform's server, calling for every learner


def entitlements_url(learner: str) -> str:
    return f"/api/v1/platform/learners/{learner}/entitlements"


Call = Callable[..., Any]


@pytest.fixture
def call(client: Client, token_for: Any) -> Call:
    """call(credentials, "POST", path, body, scope=None) -> the response, as the platform's server
    sends it: with its access token, from its own address."""
    tokens: dict[tuple[int, str | None], str] = {}

    def send(credentials: Any, method: str, path: str, body: dict[str, Any] | None = None, scope: str | None = None):  # type: ignore[no-untyped-def]
        key = (credentials.platform.pk, scope)
        if key not in tokens:
            tokens[key] = token_for(credentials, scope)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens[key]}", "REMOTE_ADDR": SERVER}
        if method == "GET":
            return client.get(path, **headers)
        return client.post(path, body, content_type="application/json", **headers)

    return send


@pytest.fixture
def enrollment_code(platform_session, make_offer, make_code) -> Callable[..., str]:
    offer = make_offer(Product.ENROLLMENT, platform_session.session)
    return lambda **fields: make_code(offer, **fields)


def body(code: str, **fields: Any) -> dict[str, Any]:
    return {"learner": "1234", "code": code, "session": "s-1", **fields}


class TestCheck:
    def test_answers_what_the_code_would_unlock_by_the_platforms_names(self, call, platform_a, enrollment_code):
        code = enrollment_code(uses_per_code=3)
        response = call(platform_a, "POST", CHECK, body(code))
        assert response.status_code == 200, response.content
        assert response.json() == {
            "code": code, "product": "enrollment", "session": "s-1", "course": "c-1", "uses_left": 3,
            "expires_at": None,
        }  # fmt: skip
        assert not Redemption.objects.exists()

    def test_creates_the_learner_on_first_use(self, call, platform_a, enrollment_code):
        call(platform_a, "POST", CHECK, body(enrollment_code()))
        assert PlatformLearner.objects.get().external_id == "1234"


class TestRedeem:
    def test_redeems_for_the_learner_and_answers_the_redemption(self, call, platform_a, enrollment_code):
        code = enrollment_code()
        response = call(platform_a, "POST", REDEEM, body(code, product="enrollment", client_ip="203.0.113.9"))
        assert response.status_code == 201, response.content
        answer = response.json()
        redemption = Redemption.objects.get()
        assert answer.pop("redeemed_at")
        assert answer == {
            "id": redemption.pk, "code": code, "product": "enrollment", "session": "s-1", "course": "c-1",
            "learner": "1234", "effect": {"active": True, "proctored": False, "reactivated_until": None},
        }  # fmt: skip
        assert redemption.user == PlatformLearner.objects.get(external_id="1234").user
        assert redemption.client_ip == "203.0.113.9"  # the learner's, as the platform reported it

    def test_without_client_ip_no_address_is_stored_not_even_the_servers(self, call, platform_a, enrollment_code):
        assert call(platform_a, "POST", REDEEM, body(enrollment_code())).status_code == 201
        assert Redemption.objects.get().client_ip is None

    def test_proctoring_answers_its_effect(
        self, call, platform_a, enrollment_code, platform_session, make_offer, make_code
    ):
        call(platform_a, "POST", REDEEM, body(enrollment_code()))
        proctoring = make_code(make_offer(Product.PROCTORING, platform_session.session))
        response = call(platform_a, "POST", REDEEM, body(proctoring))
        assert response.status_code == 201, response.content
        assert response.json()["effect"] == {"active": True, "proctored": True, "reactivated_until": None}

    def test_a_reactivation_answers_until_when(self, call, platform_a, platform_ended_session, make_offer, make_code):
        code = make_code(make_offer(Product.REACTIVATION, platform_ended_session.session))
        response = call(platform_a, "POST", REDEEM, body(code, session="s-0"))
        assert response.status_code == 201, response.content
        assert response.json()["effect"]["reactivated_until"] is not None

    @pytest.mark.parametrize(
        ("fields", "status", "error"),
        [
            ({"product": "proctoring"}, 409, "wrong_product"),
            ({"code": "not a code"}, 409, "mistyped"),
            ({"session": "s-9"}, 404, "not_found"),
        ],
    )
    def test_refusals_are_the_learner_apis(self, call, platform_a, enrollment_code, fields, status, error):
        response = call(platform_a, "POST", REDEEM, {**body(enrollment_code()), **fields})
        assert response.status_code == status, response.content
        assert response.json()["error"] == error
        assert not Redemption.objects.exists()

    def test_an_unknown_code_is_404_not_found(self, call, platform_a, platform_session):
        response = call(platform_a, "POST", REDEEM, body(codebook.generate(1)[0]))
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_a_second_redemption_is_409_already_redeemed(self, call, platform_a, enrollment_code):
        code = enrollment_code(uses_per_code=2)
        call(platform_a, "POST", REDEEM, body(code))
        response = call(platform_a, "POST", REDEEM, body(code))
        assert (response.status_code, response.json()["error"]) == (409, "already_redeemed")


class TestBadInput:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"client_ip": "203.0.113"}, "client_ip"),
            ({"client_ip": "fe80::1%eth0"}, "client_ip"),
            ({"learner": "x" * 256}, "learner"),
            ({"learner": ""}, "learner"),
            ({"learner": "a\x00b"}, "learner"),
            ({"session": ""}, "session"),
        ],
    )
    def test_is_422_invalid_input_and_changes_nothing(self, call, platform_a, enrollment_code, fields, field):
        response = call(platform_a, "POST", REDEEM, {**body(enrollment_code()), **fields})
        assert response.status_code == 422, response.content
        assert response.json()["error"] == "invalid_input"
        assert field in response.content.decode()
        assert not User.objects.exists()
        assert not Redemption.objects.exists()

    def test_a_nul_in_the_learner_of_a_path_is_422(self, call, platform_a):
        response = call(platform_a, "GET", entitlements_url("a%00b"))
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")


class TestEntitlements:
    def test_lists_the_learners_enrollments_and_redemptions_by_the_platforms_names(
        self, call, platform_a, enrollment_code
    ):
        code = enrollment_code()
        call(platform_a, "POST", REDEEM, body(code))
        response = call(platform_a, "GET", entitlements_url("1234"))
        assert response.status_code == 200, response.content
        answer = response.json()
        assert answer["learner"] == "1234"
        [enrollment] = answer["enrollments"]
        assert (enrollment["session"], enrollment["course"], enrollment["active"]) == ("s-1", "c-1", True)
        [redemption] = answer["redemptions"]
        assert (redemption["code"], redemption["product"], redemption["session"]) == (code, "enrollment", "s-1")
        assert redemption["reversed_at"] is None

    def test_an_unknown_learner_is_200_with_nothing_and_is_not_created(self, call, platform_a):
        response = call(platform_a, "GET", entitlements_url("never-seen"))
        assert response.status_code == 200
        assert response.json() == {"learner": "never-seen", "enrollments": [], "redemptions": []}
        assert not User.objects.exists()

    def test_a_learner_id_with_a_slash_is_one_id(self, call, platform_a, enrollment_code):
        call(platform_a, "POST", REDEEM, body(enrollment_code(), learner="org/1234"))
        response = call(platform_a, "GET", entitlements_url("org/1234"))
        assert response.json()["learner"] == "org/1234"
        assert len(response.json()["redemptions"]) == 1


class TestTenancy:
    def test_the_same_learner_id_at_two_platforms_is_two_learners(
        self, call, platform_a, platform_b, enrollment_code, platform_b_session, make_offer, make_code
    ):
        call(platform_a, "POST", REDEEM, body(enrollment_code()))
        b_code = make_code(make_offer(Product.ENROLLMENT, platform_b_session.session))
        assert call(platform_b, "POST", REDEEM, body(b_code)).status_code == 201
        learners = PlatformLearner.objects.filter(external_id="1234")
        assert {learner.platform for learner in learners} == {platform_a.platform, platform_b.platform}
        assert len({learner.user_id for learner in learners}) == 2

    def test_b_cannot_redeem_on_as_session(self, call, platform_a, platform_b, enrollment_code):
        response = call(platform_b, "POST", REDEEM, body(enrollment_code(), session="s-1"))
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert not Redemption.objects.exists()
        assert not PlatformLearner.objects.exists()

    def test_b_cannot_check_as_code_on_its_own_session_either(
        self, call, platform_b, platform_b_session, enrollment_code
    ):
        """B names its own "s-1": A's code is for A's session, so it is refused like any other."""
        response = call(platform_b, "POST", CHECK, body(enrollment_code()))
        assert (response.status_code, response.json()["error"]) == (409, "wrong_product")

    def test_as_learner_is_unknown_to_b(self, call, platform_a, platform_b, enrollment_code):
        call(platform_a, "POST", REDEEM, body(enrollment_code()))
        response = call(platform_b, "GET", entitlements_url("1234"))
        assert response.json() == {"learner": "1234", "enrollments": [], "redemptions": []}

    def test_a_b_learners_redemption_never_shows_in_as_listing(
        self, call, platform_a, platform_b, platform_session, platform_b_session, make_offer, make_code
    ):
        call(platform_a, "POST", CHECK, body(make_code(make_offer(Product.ENROLLMENT, platform_session.session))))
        b_code = make_code(make_offer(Product.ENROLLMENT, platform_b_session.session))
        assert call(platform_b, "POST", REDEEM, body(b_code)).status_code == 201
        response = call(platform_a, "GET", entitlements_url("1234"))
        assert response.json() == {"learner": "1234", "enrollments": [], "redemptions": []}


class TestCode:
    def test_an_unredeemed_code_of_the_platforms(self, call, platform_a, enrollment_code):
        code = enrollment_code(uses_per_code=2)
        response = call(platform_a, "GET", f"/api/v1/platform/codes/{code}")
        assert response.status_code == 200, response.content
        assert response.json() == {
            "code": code, "status": "unused", "product": "enrollment", "session": "s-1", "course": "c-1", "uses": 0,
            "max_uses": 2, "expires_at": None, "revoked_at": None, "redemptions": [],
        }  # fmt: skip

    def test_names_who_redeemed_it_when_and_where(
        self, call, platform_a, enrollment_code, platform_session, other_learner
    ):
        code = enrollment_code(uses_per_code=2)
        call(platform_a, "POST", REDEEM, body(code, client_ip="203.0.113.9"))
        # Someone with an account of Tessera's own, on Tessera's pages: not the platform's to name.
        voucher_redeem(code=code, user=other_learner, session=platform_session.session)
        answer = call(platform_a, "GET", f"/api/v1/platform/codes/{code}").json()
        assert (answer["status"], answer["uses"]) == ("redeemed", 2)
        first, second = answer["redemptions"]
        assert (first["learner"], first["session"], first["reversed_at"]) == ("1234", "s-1", None)
        assert first["redeemed_at"]
        assert second["learner"] is None
        assert "203.0.113.9" not in json.dumps(answer)
        assert "other_learner" not in json.dumps(answer)

    def test_another_platforms_code_is_not_found(self, call, platform_b, enrollment_code):
        response = call(platform_b, "GET", f"/api/v1/platform/codes/{enrollment_code()}")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_a_code_for_none_of_the_platforms_sessions_is_not_found(
        self, call, platform_a, platform_session, enrollment_offer, make_code
    ):
        response = call(platform_a, "GET", f"/api/v1/platform/codes/{make_code(enrollment_offer)}")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_a_mistyped_code_is_409_mistyped(self, call, platform_a, enrollment_code):
        code = enrollment_code()
        typo = code[:-1] + ("A" if code[-1] != "A" else "B")
        response = call(platform_a, "GET", f"/api/v1/platform/codes/{typo}")
        assert (response.status_code, response.json()["error"]) == (409, "mistyped")


class TestScopes:
    @pytest.mark.parametrize(("method", "path", "scope"), [
        ("POST", CHECK, "redeem"), ("POST", REDEEM, "redeem"), ("GET", entitlements_url("1234"), "entitlements"),
        ("GET", "/api/v1/platform/codes/ABCD", "catalog"),
    ])  # fmt: skip
    def test_a_token_without_the_scope_is_403_naming_it(self, call, platform_a, enrollment_code, method, path, scope):
        other = " ".join({"catalog", "redeem", "entitlements", "events"} - {scope})
        response = call(platform_a, method, path, body(enrollment_code()), scope=other)
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
        assert response.json()["scope"] == scope
        assert not User.objects.exists()

    def test_without_a_token_it_is_401(self, client, platform_session):
        response = client.post(REDEEM, body("X"), content_type="application/json")
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


LIMIT = 3


@pytest.mark.usefixtures("ratelimit_clock")
class TestRateLimits:
    """Per learner, and per the address the platform reports: never per the platform's server."""

    @pytest.fixture(autouse=True)
    def small_limits(self, settings):
        settings.TESSERA_FAILED_ATTEMPTS = [(LIMIT, 60)]
        settings.TESSERA_REFUSED_ATTEMPTS = [(LIMIT * 2, 60)]

    @staticmethod
    def guess(call, credentials, learner: str, **fields: Any) -> Any:
        """A check of a code that does not exist, on the platform's session "s-1"."""
        return call(credentials, "POST", CHECK, body(codebook.generate(1)[0], learner=learner, **fields))

    def test_a_guessing_learner_is_stopped_while_another_of_the_platform_still_redeems(
        self, call, platform_a, enrollment_code
    ):
        for _ in range(LIMIT):
            assert self.guess(call, platform_a, "guesser").status_code == 404
        limited = self.guess(call, platform_a, "guesser")
        assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
        assert int(limited["Retry-After"]) > 0
        assert call(platform_a, "POST", REDEEM, body(enrollment_code(), learner="1234")).status_code == 201
        guesser = PlatformLearner.objects.get(external_id="guesser").user_id
        # Neither the server's address nor the shared "ip:unknown": the guesser's own key only.
        assert set(FailureCounter.objects.values_list("key", flat=True)) == {
            f"user:{guesser}/60", f"refused:user:{guesser}/60"
        }  # fmt: skip

    def test_the_same_learner_from_another_address_is_still_stopped(self, call, platform_a, enrollment_code):
        for index in range(LIMIT):
            self.guess(call, platform_a, "guesser", client_ip=f"198.51.100.{index}")
        response = call(platform_a, "POST", REDEEM, body(enrollment_code(), learner="guesser", client_ip="192.0.2.99"))
        assert response.status_code == 429
        assert not Redemption.objects.exists()

    def test_an_address_is_one_bucket_whichever_platform_reports_it(
        self, call, platform_a, platform_b, platform_session, platform_b_session
    ):
        for index in range(LIMIT):
            self.guess(call, platform_a, f"a-{index}", client_ip="203.0.113.7")
        assert self.guess(call, platform_b, "b-1", client_ip="203.0.113.7").status_code == 429
        assert self.guess(call, platform_b, "b-1", client_ip="203.0.113.8").status_code == 404

    def test_a_learner_of_another_platform_with_the_same_id_has_its_own_allowance(
        self, call, platform_a, platform_b, platform_session, platform_b_session
    ):
        for _ in range(LIMIT):
            self.guess(call, platform_a, "1234")
        assert self.guess(call, platform_a, "1234").status_code == 429
        assert self.guess(call, platform_b, "1234").status_code == 404
