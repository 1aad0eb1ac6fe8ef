"""The learner pages' forms (tessera.web.forms): log-in under the failed log-in limits, whatever
the password once locked out; the password rules at sign-up and in the admin."""

import logging

import pytest
from django.contrib.auth.models import User

from tessera.core.models import FailureCounter
from tessera.core.ratelimit import limiter
from tests.web.conftest import LOGIN_LIMIT, log_in, signed_in
from tests.web.pages import text


@pytest.mark.usefixtures("login_limits")
class TestLoginLimits:
    def test_an_account_is_locked_out_after_the_limit_of_wrong_passwords_from_any_addresses(self, client, learner):
        for attempt in range(LOGIN_LIMIT):
            response = log_in(client, "learner", "wrong-pass", address=f"203.0.113.{attempt + 1}")
            assert response.status_code == 200  # the form again, with its error

        response = log_in(client, "learner", "learner-pass-1", address="198.51.100.7")

        assert response.status_code == 429
        assert not signed_in(client)

    def test_an_address_is_locked_out_after_the_limit_of_failures_over_many_usernames(self, client, learner):
        for attempt in range(LOGIN_LIMIT):
            log_in(client, f"someone{attempt}", "wrong-pass")

        assert log_in(client, "learner", "learner-pass-1").status_code == 429
        assert log_in(client, "learner", "learner-pass-1", address="198.51.100.7").status_code == 302

    def test_failures_under_the_limit_lock_nobody_out(self, client, learner):
        for _ in range(LOGIN_LIMIT - 1):
            log_in(client, "learner", "wrong-pass")

        assert log_in(client, "learner", "learner-pass-1").status_code == 302
        assert signed_in(client)

    def test_the_locked_out_page_says_in_plain_words_when_to_try_again(self, client, learner):
        for _ in range(LOGIN_LIMIT):
            log_in(client, "learner", "wrong-pass")

        response = log_in(client, "learner", "wrong-pass")

        assert response.status_code == 429
        assert response["Retry-After"] == "50"  # the minute window ends 50 s after the clock's 10 s
        body = text(response)
        assert "Log-in paused" in body
        assert "too many failed log-ins for this account or from your address" in body
        assert "Please try again in 50 seconds." in body
        assert 'class="site-header"' in body  # in the site's layout

    def test_the_right_password_is_refused_while_locked_out(self, client, learner):
        for _ in range(LOGIN_LIMIT):
            log_in(client, "learner", "wrong-pass")

        response = log_in(client, "learner", "learner-pass-1")

        assert response.status_code == 429
        assert not signed_in(client)

    def test_the_counts_start_again_when_the_period_ends(self, client, learner, ratelimit_clock):
        for _ in range(LOGIN_LIMIT):
            log_in(client, "learner", "wrong-pass")
        ratelimit_clock.advance(50)  # the next minute window

        response = log_in(client, "learner", "learner-pass-1")

        assert response.status_code == 302
        assert signed_in(client)

    def test_the_day_limit_holds_across_minutes(self, client, learner, ratelimit_clock, settings):
        settings.TESSERA_LOGIN_ATTEMPTS = [(LOGIN_LIMIT, 60), (LOGIN_LIMIT + 1, 86400)]
        for _ in range(LOGIN_LIMIT):
            log_in(client, "learner", "wrong-pass")
        ratelimit_clock.advance(60)
        log_in(client, "learner", "wrong-pass")
        ratelimit_clock.advance(60)

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
        settings.TESSERA_FAILED_ATTEMPTS = [(LOGIN_LIMIT, 60)]
        for _ in range(LOGIN_LIMIT):
            log_in(client, "learner", "wrong-pass")

        with limiter.failures_limited(keys=[f"user:{learner.pk}", "ip:203.0.113.1"], counted=()):
            pass  # not refused: codes and passwords have counters of their own


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
