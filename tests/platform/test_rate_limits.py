"""Failed redemptions and checks through the API: guesses count per user and per address, then 429."""

import json

import pytest

from tessera.catalog.models import Enrollment
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Redemption

CHECK = "/api/v1/codes/check"
REDEEM = "/api/v1/redemptions"
LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.TESSERA_FAILED_ATTEMPTS = [(LIMIT, 60)]


def attempt(client, persona, code, session, url=REDEEM, address="203.0.113.9"):
    body = json.dumps({"code": code, "session": session.slug})
    return client.post(url, body, content_type="application/json", REMOTE_ADDR=address, **persona.auth)


def unknown_code() -> str:
    return codebook.generate(1)[0]


class TestGuessing:
    def test_after_the_limit_even_a_good_code_is_429_with_retry_after(
        self, client, learner_api, enrollment_offer, make_code, running_session
    ):
        for _ in range(LIMIT):
            assert attempt(client, learner_api, unknown_code(), running_session).status_code == 404
        good = make_code(enrollment_offer)
        refused = attempt(client, learner_api, good, running_session)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert not Redemption.objects.exists()
        assert not Enrollment.objects.exists()

    def test_mistyped_codes_count_too(self, client, learner_api, enrollment_offer, make_code, running_session):
        good = make_code(enrollment_offer)
        typo = ("B" if good[0] == "A" else "A") + good[1:]
        for _ in range(LIMIT):
            assert attempt(client, learner_api, typo, running_session).status_code == 409
        assert attempt(client, learner_api, good, running_session).status_code == 429

    def test_checks_and_redemptions_share_one_budget(self, client, learner_api, running_session):
        for url in (CHECK, REDEEM, CHECK):
            assert attempt(client, learner_api, unknown_code(), running_session, url=url).status_code == 404
        assert attempt(client, learner_api, unknown_code(), running_session, url=CHECK).status_code == 429

    def test_refusals_of_real_codes_do_not_count(self, client, learner_api, other_learner_api, enrollment_offer,
                                                 make_code, running_session):  # fmt: skip
        used_up = make_code(enrollment_offer)
        assert attempt(client, other_learner_api, used_up, running_session, address="198.51.100.1").status_code == 201
        for _ in range(LIMIT + 2):
            assert attempt(client, learner_api, used_up, running_session).json()["error"] == "exhausted"
        assert attempt(client, learner_api, make_code(enrollment_offer), running_session).status_code == 201


class TestKeys:
    def test_a_blocked_address_blocks_another_learner_there(self, client, learner_api, other_learner_api,
                                                            running_session):  # fmt: skip
        for _ in range(LIMIT):
            attempt(client, learner_api, unknown_code(), running_session)
        assert attempt(client, other_learner_api, unknown_code(), running_session).status_code == 429
        elsewhere = attempt(client, other_learner_api, unknown_code(), running_session, address="192.0.2.7")
        assert elsewhere.status_code == 404

    def test_a_blocked_learner_is_blocked_from_any_address(self, client, learner_api, running_session):
        for number in range(LIMIT):
            attempt(client, learner_api, unknown_code(), running_session, address=f"192.0.2.{number}")
        assert attempt(client, learner_api, unknown_code(), running_session, address="192.0.2.99").status_code == 429
