"""The admin's log-in (tessera.web.admin_site): under the same failed log-in limits as the pages'."""

import pytest

from tests.web.conftest import LOGIN_LIMIT, log_in, signed_in
from tests.web.pages import text


@pytest.mark.usefixtures("login_limits")
class TestAdminLoginLimits:
    def test_the_admin_log_in_shares_the_limits_and_refuses_the_right_password(self, client, staff):
        for _ in range(LOGIN_LIMIT):
            response = log_in(client, "staff", "wrong-pass", path="/admin/login/")
            assert response.status_code == 200

        response = log_in(client, "staff", "staff-pass-1", path="/admin/login/")

        assert response.status_code == 429
        assert response["Retry-After"] == "50"
        assert "Log-in paused" in text(response)
        assert not signed_in(client)

    def test_failures_on_the_pages_count_at_the_admin(self, client, staff):
        for _ in range(LOGIN_LIMIT):
            log_in(client, "staff", "wrong-pass", address=f"198.51.100.{_ + 1}")
        assert log_in(client, "staff", "staff-pass-1", path="/admin/login/").status_code == 429

    def test_staff_log_in_to_the_admin_under_the_limit(self, client, staff):
        response = log_in(client, "staff", "staff-pass-1", path="/admin/login/")
        assert response.status_code == 302
        assert signed_in(client)
