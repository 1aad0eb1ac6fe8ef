"""Who calls the platform API (tessera.api.auth): a user's bearer token, or a signed-in browser's
session with its CSRF token; learner routes let any active user in, staff routes only those who may
manage vouchers (403 to others, 401 to nobody signed in)."""

import pytest
from django.test import Client

from tessera.api.models import ApiToken
from tessera.api.services import api_token_revoke
from tessera.vouchers.models import Offer, Redemption
from tests.api.conftest import MINE, post

REDEEM = "/api/v1/redemptions"


class TestLearnerRoutes:
    def test_no_token_is_401(self, client, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code, "session": running_session.slug})
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert not Redemption.objects.exists()

    def test_a_revoked_token_is_401(self, client, learner_api, enrollment_offer, make_code, running_session):
        api_token_revoke(token=ApiToken.objects.get(user=learner_api.user))
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code, "session": running_session.slug}, **learner_api.auth)
        assert response.status_code == 401
        assert not Redemption.objects.exists()

    def test_a_shop_token_is_not_a_user_token(self, client, shop_a, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        response = post(client, REDEEM, {"code": code, "session": running_session.slug}, **shop_a.auth)
        assert response.status_code == 401

    def test_an_inactive_users_token_is_401(self, client, learner_api, running_session):
        learner_api.user.is_active = False
        learner_api.user.save()
        assert client.get(MINE, **learner_api.auth).status_code == 401

    def test_a_browser_session_needs_the_csrf_token(self, learner, enrollment_offer, make_code, running_session):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(learner)
        code = make_code(enrollment_offer)
        refused = post(browser, REDEEM, {"code": code, "session": running_session.slug})
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
        assert not Redemption.objects.exists()
        token = browser.get("/api/v1/csrf").json()["csrf_token"]
        accepted = post(browser, REDEEM, {"code": code, "session": running_session.slug}, HTTP_X_CSRFTOKEN=token)
        assert accepted.status_code == 201

    def test_a_signed_out_browser_is_401_not_a_csrf_403(self, enrollment_offer, make_code, running_session):
        browser = Client(enforce_csrf_checks=True)
        response = post(browser, REDEEM, {"code": make_code(enrollment_offer), "session": running_session.slug})
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
        assert not Redemption.objects.exists()


class TestStaffRoutes:
    @pytest.mark.parametrize("url", ["/api/v1/offers", "/api/v1/stats", "/api/v1/batches/1", "/api/v1/codes/ABCD"])
    def test_a_learner_is_forbidden(self, client, learner_api, url):
        response = client.get(url, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")

    def test_nobody_is_unauthorized(self, client, db):
        response = client.get("/api/v1/offers")
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")

    def test_a_learner_cannot_create_an_offer(self, client, learner_api, running_session):
        response = post(client, "/api/v1/offers", {"name": "x", "product": "enrollment"}, **learner_api.auth)
        assert response.status_code == 403
        assert not Offer.objects.exists()

    def test_the_voucher_permission_is_enough_without_superuser(self, client, voucher_manager_api, enrollment_offer):
        response = client.get("/api/v1/offers", **voucher_manager_api.auth)
        assert response.status_code == 200
        assert [item["id"] for item in response.json()["items"]] == [enrollment_offer.pk]

    def test_a_staff_browser_session_needs_csrf_for_posts(self, staff, running_session):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(staff)
        body = {"name": "Seats", "product": "enrollment", "session": running_session.slug}
        assert post(browser, "/api/v1/offers", body).status_code == 403
        token = browser.get("/api/v1/csrf").json()["csrf_token"]
        assert post(browser, "/api/v1/offers", body, HTTP_X_CSRFTOKEN=token).status_code == 201
        assert Offer.objects.count() == 1

    def test_a_signed_out_browser_is_401_not_a_csrf_403(self, running_session):
        browser = Client(enforce_csrf_checks=True)
        body = {"name": "Seats", "product": "enrollment", "session": running_session.slug}
        response = post(browser, "/api/v1/offers", body)
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
        assert not Offer.objects.exists()

    def test_a_learners_browser_session_is_forbidden(self, learner, running_session):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(learner)
        token = browser.get("/api/v1/csrf").json()["csrf_token"]
        body = {"name": "Seats", "product": "enrollment", "session": running_session.slug}
        response = post(browser, "/api/v1/offers", body, HTTP_X_CSRFTOKEN=token)
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
        assert "permission" in response.json()["detail"]
        assert browser.get("/api/v1/offers").status_code == 403
        assert not Offer.objects.exists()
