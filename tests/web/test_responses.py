"""Answers every page module shares (tessera.web.responses): a redirect after a POST, the locked-out
page, and how long to wait in words."""

import pytest
from django.contrib.auth.models import AnonymousUser

from tessera.core.ratelimit.limiter import RateLimited
from tessera.web.responses import in_words, locked_out, see_other
from tests.web.pages import text


class TestSeeOther:
    def test_is_a_303_to_the_url(self):
        response = see_other("/staff/batches/7")
        assert (response.status_code, response["Location"]) == (303, "/staff/batches/7")


class TestInWords:
    @pytest.mark.parametrize(
        ("seconds", "words"),
        [
            (1, "1 second"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"), (119, "2 minutes"),
            (7199, "120 minutes"), (7200, "2 hours"), (7201, "3 hours"), (86400, "24 hours"),
        ],
    )  # fmt: skip
    def test_rounds_up_never_too_soon(self, seconds, words):
        assert in_words(seconds) == words


class TestLockedOut:
    def test_is_a_429_saying_when_to_try_again_in_the_sites_layout(self, rf, db):
        request = rf.post("/login")
        request.user = AnonymousUser()
        response = locked_out(request, RateLimited(retry_after=90))
        assert (response.status_code, response["Retry-After"]) == (429, "90")
        assert "Please try again in 2 minutes." in text(response)
