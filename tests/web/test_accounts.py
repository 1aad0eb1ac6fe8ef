"""Accounts: log-in under the failed log-in limits (learner pages and admin), the password
rules at sign-up and in the admin, and sign-up switched off."""

import logging

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.test import Client

from tessera.catalog.demo import demo_users_reset
from tessera.core.models import FailureCounter
from tessera.core.ratelimit import limiter
from tests.web.pages import text

DAY_START = 1_767_225_600  # 2026-01-01 00:00 UTC: minute and day windows start here
LIMIT = 3  # failures per minute in these tests


class Clock:
    def __init__(self) -> None:
        self.at = DAY_START + 10.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(limiter, "now", clock)
    return clock


@pytest.fixture(autouse=True)
def login_limits(settings) -> None:
    settings.TESSERA_LOGIN_ATTEMPTS = [(LIMIT, 60), (10, 86400)]


def log_in(client: Client, username: str, password: str, *, address: str = "203.0.113.1", path: str = "/login"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.usefixtures("clock")
class TestLoginLimits:
    def test_an_account_is_locked_out_after_the_limit_of_wrong_passwords_from_any_addresses(self, client, learner):
        for attempt in range(LIMIT):
            response = log_in(client, "learner", "wrong-pass", address=f"203.0.113.{attempt + 1}")
            assert response.status_code == 200  # the form again, with its error

        response = log_in(client, "learner", "learner-pass-1", address="198.51.100.7")

        assert response.status_code == 429
        assert not signed_in(client)

    def test_an_address_is_locked_out_after_the_limit_of_failures_over_many_usernames(self, client, learner):
        for attempt in range(LIMIT):
            log_in(client, f"someone{attempt}", "wrong-pass")

        assert log_in(client, "learner", "learner-pass-1").status_code == 429
        assert log_in(client, "learner", "learner-pass-1", address="198.51.100.7").status_code == 302

    def test_failures_under_the_limit_lock_nobody_out(self, client, learner):
        for _ in range(LIMIT - 1):
            log_in(client, "learner", "wrong-pass")

        assert log_in(client, "learner", "learner-pass-1").status_code == 302
        assert signed_in(client)

    def test_the_locked_out_page_says_in_plain_words_when_to_try_again(self, client, learner):
        for _ in range(LIMIT):
            log_in(client, "learner", "wrong-pass")

        response = log_in(client, "learner", "wrong-pass")

        assert response.status_code == 429
        assert response["Retry-After"] == "50"  # the minute window ends 50 s after DAY_START + 10
        body = text(response)
        assert "Log-in paused" in body
        assert "too many failed log-ins for this account or from your address" in body
        assert "Please try again in 50 seconds." in body
        assert 'class="site-header"' in body  # in the site's layout

    def test_the_right_password_is_refused_while_locked_out(self, client, learner):
        for _ in range(LIMIT):
            log_in(client, "learner", "wrong-pass")

        response = log_in(client, "learner", "learner-pass-1")

        assert response.status_code == 429
        assert not signed_in(client)

    def test_the_counts_start_again_when_the_period_ends(self, client, learner, clock):
        for _ in range(LIMIT):
            log_in(client, "learner", "wrong-pass")
        clock.at += 50  # the next minute window

        response = log_in(client, "learner", "learner-pass-1")

        assert response.status_code == 302
        assert signed_in(client)

    def test_the_day_limit_holds_across_minutes(self, client, learner, clock, settings):
        settings.TESSERA_LOGIN_ATTEMPTS = [(LIMIT, 60), (LIMIT + 1, 86400)]
        for _ in range(LIMIT):
            log_in(client, "learner", "wrong-pass")
        clock.at += 60
        log_in(client, "learner", "wrong-pass")
        clock.at += 60

        response = log_in(client, "learner", "learner-pass-1")

        assert response.status_code == 429
        assert response["Retry-After"] == str(86400 - 130)
        assert "Please try again in 24 hours." in text(response)

    def test_a_successful_log_in_writes_no_counter(self, client, learner):
        assert log_in(client, "learner", "learner-pass-1").status_code == 302
        assert not FailureCounter.objects.exists()

    def test_a_failed_log_in_is_logged_with_the_username_and_address(self, client, learner, caplog):
        with caplog.at_level(logging.WARNING, logger="tessera.web.forms"):
            log_in(client, "learner", "wrong-pass")
        assert "Failed log-in as 'learner' from 203.0.113.1." in caplog.messages

    def test_failed_log_ins_leave_the_voucher_limits_alone(self, client, learner, settings):
        settings.TESSERA_FAILED_ATTEMPTS = [(LIMIT, 60)]
        for _ in range(LIMIT):
            log_in(client, "learner", "wrong-pass")

        with limiter.failures_limited(keys=[f"user:{learner.pk}", "ip:203.0.113.1"], counted=()):
            pass  # not refused: codes and passwords have counters of their own


@pytest.mark.usefixtures("clock")
class TestAdminLoginLimits:
    def test_the_admin_log_in_shares_the_limits_and_refuses_the_right_password(self, client, staff):
        for _ in range(LIMIT):
            response = log_in(client, "staff", "wrong-pass", path="/admin/login/")
            assert response.status_code == 200

        response = log_in(client, "staff", "staff-pass-1", path="/admin/login/")

        assert response.status_code == 429
        assert response["Retry-After"] == "50"
        assert "Log-in paused" in text(response)
        assert not signed_in(client)

    def test_failures_on_the_pages_count_at_the_admin(self, client, staff):
        for _ in range(LIMIT):
            log_in(client, "staff", "wrong-pass", address=f"198.51.100.{_ + 1}")
        assert log_in(client, "staff", "staff-pass-1", path="/admin/login/").status_code == 429

    def test_staff_log_in_to_the_admin_under_the_limit(self, client, staff):
        response = log_in(client, "staff", "staff-pass-1", path="/admin/login/")
        assert response.status_code == 302
        assert signed_in(client)


class TestPasswordRules:
    @pytest.mark.parametrize(
        ("username", "password", "refusal"),
        [
            ("newcomer", "Xq7-kp", "This password is too short. It must contain at least 10 characters."),
            ("newcomer", "qwertyuiop", "This password is too common."),
            ("newcomer", "8302945716", "This password is entirely numeric."),
            ("margaretha", "margaretha1", "The password is too similar to the username."),
        ],
    )
    def test_sign_up_refuses_a_weak_password_with_the_rule_it_breaks(self, client, db, username, password, refusal):
        response = client.post("/signup", {"username": username, "password1": password, "password2": password})

        assert response.status_code == 422
        assert refusal in text(response)
        assert not User.objects.filter(username=username).exists()

    def test_the_admin_refuses_a_weak_password_for_a_new_user(self, client, staff):
        client.force_login(staff)
        response = client.post(
            "/admin/auth/user/add/",
            {"username": "newcomer", "usable_password": "true", "password1": "8302945716", "password2": "8302945716"},
        )
        assert response.status_code == 200  # the form again
        assert "This password is entirely numeric." in text(response)
        assert not User.objects.filter(username="newcomer").exists()

    def test_the_demo_users_passwords_pass_the_rules(self, db):
        passwords = demo_users_reset()
        for username, password in passwords.items():
            validate_password(password, User.objects.get(username=username))


class TestSignupSwitch:
    def test_with_sign_up_off_the_page_does_not_exist(self, client, db, settings):
        settings.TESSERA_SIGNUP_ENABLED = False
        assert client.get("/signup").status_code == 404
        response = client.post(
            "/signup", {"username": "x", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
        )
        assert response.status_code == 404
        assert not User.objects.filter(username="x").exists()

    def test_with_sign_up_off_no_page_links_to_it(self, client, db, settings):
        settings.TESSERA_SIGNUP_ENABLED = False
        for path in ["/courses", "/login"]:
            body = text(client.get(path))
            assert "/signup" not in body
            assert "Sign up" not in body

    def test_by_default_the_header_and_the_log_in_page_link_to_it(self, client, db):
        for path in ["/courses", "/login"]:
            assert 'href="/signup' in text(client.get(path))
