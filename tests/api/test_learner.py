"""The learner's platform API: check, redeem, my entitlements; every refusal as HTTP."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tessera.catalog.models import AssessmentEntitlement, Enrollment
from tessera.shop.models import WebhookDelivery
from tessera.shop.services import shop_webhook_set
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Code, Redemption
from tests.api.conftest import MINE, post
from tests.shop.webhooking import shop_code

CHECK = "/api/v1/codes/check"
REDEEM = "/api/v1/redemptions"


class TestCheck:
    def test_a_good_code_shows_what_it_unlocks_and_changes_nothing(
        self, client, learner_api, enrollment_offer, make_code, running_session
    ):
        code = make_code(enrollment_offer, uses_per_code=2)
        response = post(client, CHECK, {"code": code, "session": running_session.slug}, **learner_api.auth)
        assert response.status_code == 200
        assert response.json() | {"expires_at": None} == {
            "code": code, "product": "enrollment", "session": "python-2026", "course": "python", "assessment": None,
            "uses_left": 2, "expires_at": None,
        }  # fmt: skip
        assert not Redemption.objects.exists()
        assert Code.objects.get().uses == 0

    def test_an_unknown_code_is_404(self, client, learner_api, enrollment_offer, make_code, running_session):
        make_code(enrollment_offer)
        unknown = codebook.generate(1)[0]  # well formed, check symbol right, never issued
        response = post(client, CHECK, {"code": unknown, "session": running_session.slug}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_a_refusal_is_409_with_its_code(self, client, learner_api, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        Enrollment.objects.create(user=learner_api.user, session=running_session)
        response = post(client, CHECK, {"code": code, "session": running_session.slug}, **learner_api.auth)
        assert response.status_code == 409
        assert response.json()["error"] == "not_eligible"
        assert response.json()["detail"]


class TestRedeem:
    def test_redeeming_enrolls_the_caller_at_once(self, client, learner_api, enrollment_offer, make_code,
                                                  running_session):  # fmt: skip
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code.lower(), "session": running_session.slug}, **learner_api.auth)
        assert response.status_code == 201
        body = response.json()
        assert (body["code"], body["product"], body["session"]) == (code, "enrollment", "python-2026")
        assert Enrollment.objects.get(user=learner_api.user, session=running_session).active
        assert Redemption.objects.get().client_ip == "127.0.0.1"

    def test_a_used_up_code_is_refused_as_exhausted(self, client, learner_api, other_learner_api, enrollment_offer,
                                                    make_code, running_session):  # fmt: skip
        code = make_code(enrollment_offer)
        first = post(client, REDEEM, {"code": code, "session": running_session.slug}, **other_learner_api.auth)
        assert first.status_code == 201
        response = post(client, REDEEM, {"code": code, "session": running_session.slug}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (409, "exhausted")
        assert Redemption.objects.count() == 1

    def test_a_typo_is_refused_as_mistyped(self, client, learner_api, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        typo = ("B" if code[0] == "A" else "A") + code[1:]
        response = post(client, REDEEM, {"code": typo, "session": running_session.slug}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (409, "mistyped")

    def test_a_code_for_another_product_is_refused(self, client, learner_api, enrollment_offer, make_code,
                                                   running_session):  # fmt: skip
        code = make_code(enrollment_offer)
        body = {"code": code, "session": running_session.slug, "product": "proctoring"}
        response = post(client, REDEEM, body, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (409, "wrong_product")
        assert not Redemption.objects.exists()

    def test_a_code_restricted_to_someone_else_is_refused(self, client, learner_api, other_learner, enrollment_offer,
                                                          make_code, running_session):  # fmt: skip
        code = make_code(enrollment_offer, restricted_to=other_learner)
        response = post(client, REDEEM, {"code": code, "session": running_session.slug}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (409, "wrong_user")

    @pytest.mark.parametrize(
        "body",
        [{}, {"code": "ABCD"}, {"session": "python-2026"}, {"code": "", "session": "python-2026"},
         {"code": "X" * 101, "session": "python-2026"}, {"code": 5, "session": ["python-2026"]},
         {"code": "ABCD", "session": "python-2026", "product": "gold"}, [], "just a string", None],
    )  # fmt: skip
    def test_a_malformed_body_is_422_and_changes_nothing(self, client, learner_api, running_session, body):
        response = post(client, REDEEM, body, **learner_api.auth)
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_input"
        assert not Redemption.objects.exists()

    def test_broken_json_is_a_clear_error(self, client, learner_api, running_session):
        response = client.post(REDEEM, "{not json", content_type="application/json", **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")

    def test_an_unknown_session_is_422(self, client, learner_api, enrollment_offer, make_code):
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code, "session": "no-such-session"}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")


class TestEntitlements:
    def test_my_enrollments_and_redemptions_and_nobody_elses(
        self, client, learner_api, other_learner_api, enrollment_offer, make_code, running_session
    ):
        code = make_code(enrollment_offer)
        post(client, REDEEM, {"code": code, "session": running_session.slug}, **learner_api.auth)
        mine = client.get(MINE, **learner_api.auth).json()
        enrollments = [(e["session"], e["active"], e["proctored"]) for e in mine["enrollments"]]
        redemptions = [(r["code"], r["product"], r["reversed_at"]) for r in mine["redemptions"]]
        assert enrollments == [("python-2026", True, False)]
        assert redemptions == [(code, "enrollment", None)]
        theirs = client.get(MINE, **other_learner_api.auth).json()
        assert theirs == {"enrollments": [], "assessments": [], "redemptions": []}


class TestAssessments:
    def test_check_then_redeem_a_code_for_an_assessment(self, client, learner_api, assessment_offer, make_code,
                                                        assessment):  # fmt: skip
        code = make_code(assessment_offer)
        checked = post(client, CHECK, {"code": code, "assessment": "python-exam"}, **learner_api.auth)
        assert checked.status_code == 200
        assert {key: checked.json()[key] for key in ("product", "session", "course", "assessment")} == {
            "product": "assessment",
            "session": None,
            "course": "python",
            "assessment": "python-exam",
        }
        assert not AssessmentEntitlement.objects.exists()
        redeemed = post(client, REDEEM, {"code": code, "assessment": "python-exam"}, **learner_api.auth)
        assert redeemed.status_code == 201
        assert (redeemed.json()["assessment"], redeemed.json()["session"]) == ("python-exam", None)
        assert AssessmentEntitlement.objects.get(user=learner_api.user).attempts == 3

    def test_my_entitlements_list_my_assessments_with_their_attempts(
        self, client, learner_api, other_learner_api, assessment_offer, make_code, assessment
    ):
        post(client, REDEEM, {"code": make_code(assessment_offer), "assessment": "python-exam"}, **learner_api.auth)
        mine = client.get(MINE, **learner_api.auth).json()
        [held] = mine["assessments"]
        assert {key: held[key] for key in ("assessment", "title", "course", "attempts")} == {
            "assessment": "python-exam",
            "title": "Python certification exam",
            "course": "python",
            "attempts": 3,
        }
        assert [(r["product"], r["session"], r["assessment"]) for r in mine["redemptions"]] == [
            ("assessment", None, "python-exam")
        ]
        assert client.get(MINE, **other_learner_api.auth).json()["assessments"] == []

    @pytest.mark.parametrize("places", [{}, {"session": "python-2026", "assessment": "python-exam"}])
    def test_a_session_or_an_assessment_never_both_nor_neither(
        self, client, learner_api, assessment_offer, make_code, assessment, running_session, places
    ):
        response = post(client, REDEEM, {"code": make_code(assessment_offer), **places}, **learner_api.auth)
        assert (response.status_code, response.json()["error"], response.json()["field"]) == (
            422,
            "invalid_input",
            "session",
        )
        assert not Redemption.objects.exists()

    def test_an_unknown_assessment_is_422(self, client, learner_api, assessment_offer, make_code):
        response = post(client, REDEEM, {"code": make_code(assessment_offer), "assessment": "nope"}, **learner_api.auth)
        assert (response.status_code, response.json()["field"]) == (422, "assessment")

    def test_a_holder_is_refused_a_plain_code_as_409_not_eligible(self, client, learner_api, assessment_offer,
                                                                  make_code, assessment):  # fmt: skip
        post(client, REDEEM, {"code": make_code(assessment_offer), "assessment": "python-exam"}, **learner_api.auth)
        again = post(client, REDEEM, {"code": make_code(assessment_offer), "assessment": "python-exam"},
                     **learner_api.auth)  # fmt: skip
        assert (again.status_code, again.json()["error"]) == (409, "not_eligible")


class TestVouchersOff:
    @pytest.mark.parametrize("url", [CHECK, REDEEM, MINE, "/api/v1/offers", "/api/v1/csrf"])
    def test_the_whole_platform_api_is_404(self, client, settings, learner_api, url):
        settings.TESSERA_VOUCHERS_ENABLED = False
        response = client.post(url, "{}", content_type="application/json", **learner_api.auth)
        assert response.status_code == 404


class TestOddRequests:
    def test_a_nul_in_the_session_is_invalid_input(self, client, learner_api, running_session):
        response = post(client, REDEEM, {"code": "ABCD", "session": "python\x002026"}, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")

    @pytest.mark.parametrize("url", [CHECK, REDEEM])
    @pytest.mark.parametrize("raw", ['{"code":' * 1000 + '"x"' + "}" * 1000, "[" * 1000 + "]" * 1000])
    def test_json_nested_a_thousand_levels_deep_is_invalid_input(self, client, learner_api, url, raw):
        response = client.post(url, raw, content_type="application/json", **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")

    @pytest.mark.parametrize("url", [CHECK, REDEEM])
    @pytest.mark.parametrize("field", ["code", "session"])
    def test_a_lone_surrogate_is_invalid_input(self, client, learner_api, running_session, url, field):
        body = json.dumps({"code": "ABCD", "session": running_session.slug})
        body = body.replace(f'"{field}": "', f'"{field}": "\\ud800')  # the six characters \ud800, as JSON sends them
        response = client.post(url, body, content_type="application/json", **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Redemption.objects.exists()

    def test_a_request_without_an_address_redeems_with_none_recorded(
        self, client, learner_api, enrollment_offer, make_code, running_session
    ):
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code, "session": running_session.slug}, REMOTE_ADDR="",
                        **learner_api.auth)  # fmt: skip
        assert response.status_code == 201
        assert Redemption.objects.get().client_ip is None


# The statements of one redemption request, end to end, pinned so that none creeps back unnoticed
# (docs/benchmarks.md section 3, "Issue 16: the redemption's statements"). The counts are the same
# on SQLite and PostgreSQL: every statement here is one the code sends itself. In a test the
# request runs inside the test's transaction, so the redemption's transaction.atomic() is a
# SAVEPOINT ... RELEASE SAVEPOINT where a real request sends BEGIN ... COMMIT: one statement each
# either way. The on-commit receivers run as the capture block ends, inside the counted block.
def _statements(capture, client, persona, body) -> list[str]:
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        response = post(client, REDEEM, body, **persona.auth)
    assert response.status_code == 201, response.content
    return [_kind(query["sql"]) for query in queries]


def _kind(sql: str) -> str:
    """A statement as its verb and first table: "INSERT vouchers_redemption", "SAVEPOINT"."""
    verb = sql.split()[0].upper()
    while re.search(r"\([^()]*\)", sql):  # subqueries and column lists out: the outermost FROM left
        sql = re.sub(r"\([^()]*\)", "", sql)
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    return verb if verb in ("SAVEPOINT", "RELEASE") or table is None else f"{verb} {table.group(1)}"


# What every redemption of a code by a bearer token's learner does, up to its commit.
REDEMPTION = [
    "SELECT platform_apitoken",  # the token and its user, one join
    "SELECT catalog_coursesession",  # the session named by its slug
    "SELECT core_failurecounter",  # the failed-attempt limit: read only, no write on success
    "SAVEPOINT",  # BEGIN outside a test
    "SELECT vouchers_code",  # the code, its batch and offer, a live redemption, the enrollment
    "INSERT vouchers_redemption",
    "INSERT catalog_enrollment",
    "INSERT vouchers_auditevent",
    "UPDATE vouchers_code",  # the use counted last: its row lock held shortest
    "RELEASE",  # COMMIT outside a test
]


class TestStatementsPerRedemption:
    def test_a_tessera_sessions_code(self, client, learner_api, enrollment_offer, make_code, running_session,
                                     django_capture_on_commit_callbacks):  # fmt: skip
        code = make_code(enrollment_offer)
        body = {"code": code, "session": running_session.slug}
        statements = _statements(django_capture_on_commit_callbacks, client, learner_api, body)
        # After the commit, the shop receiver reads Batch.source with the code: no shop's, no query.
        assert statements == REDEMPTION

    def test_a_shops_code_tells_its_shop(self, client, learner_api, shop_a, running_session,
                                         django_capture_on_commit_callbacks):  # fmt: skip
        shop_webhook_set(shop=shop_a.shop, url="https://shop-a.example/hooks")
        body = {"code": shop_code(shop_a.shop, running_session), "session": running_session.slug}
        statements = _statements(django_capture_on_commit_callbacks, client, learner_api, body)
        assert statements == [
            *REDEMPTION,
            "SELECT shop_shop",  # the shop that sold it, with its webhook URL
            "SELECT vouchers_redemption",  # the redemption with what its event tells
            "INSERT shop_webhookdelivery",
            "INSERT django_tasks_database_dbtaskresult",  # its delivery queued
        ]
        assert WebhookDelivery.objects.filter(shop=shop_a.shop, event_type=WebhookDelivery.Event.REDEEMED).count() == 1
