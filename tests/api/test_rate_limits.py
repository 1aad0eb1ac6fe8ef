"""Failed redemptions and checks through the API: guesses count per user and per address, then 429;
refusals of any kind count against a more generous limit, so they cannot flood the audit log."""

import json
import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from tessera.catalog.models import Enrollment
from tessera.core.ratelimit import limiter as ratelimit
from tessera.core.ratelimit.stores import DatabaseStore, FallbackStore, RedisStore
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import AuditEvent, Redemption

CHECK = "/api/v1/codes/check"
REDEEM = "/api/v1/redemptions"
LIMIT = 3
REFUSAL_LIMIT = 6  # more generous than LIMIT, as in production
TEST_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

# Every test here counts attempts up to a limit within one minute's window (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ratelimit_clock")


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.TESSERA_FAILED_ATTEMPTS = [(LIMIT, 60)]
    settings.TESSERA_REFUSED_ATTEMPTS = [(REFUSAL_LIMIT, 60)]


@pytest.fixture(params=["database", "redis"])
def counter_store(request, monkeypatch) -> Iterator[str]:
    """Counters in the database, or in the real Redis under a prefix of this test's own."""
    if request.param == "database":
        yield "database"
        return
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    client.ping()  # unreachable Redis fails the test, as a store it is meant to check
    store = FallbackStore(RedisStore(client, prefix=f"tessera-test:{uuid.uuid4().hex}:"), DatabaseStore())
    monkeypatch.setattr(ratelimit, "failure_store", lambda: store)
    yield "redis"
    assert list(client.scan_iter(match=f"{store.primary.prefix}*")), "the counts went to Redis"
    for name in client.scan_iter(match=f"{store.primary.prefix}*"):
        client.delete(name)
    client.close()


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


class TestRefusals:
    """Refusals that are not guesses (already redeemed, exhausted, wrong product, ...) each write an
    audit row; past TESSERA_REFUSED_ATTEMPTS they are 429 and write none."""

    def test_the_refusal_past_the_limit_is_429_and_the_audit_log_stops_growing(
        self, client, learner_api, enrollment_offer, make_code, running_session, counter_store
    ):
        code = make_code(enrollment_offer)
        assert attempt(client, learner_api, code, running_session).status_code == 201
        for _ in range(REFUSAL_LIMIT):
            assert attempt(client, learner_api, code, running_session).json()["error"] == "already_redeemed"
        audited = AuditEvent.objects.filter(action=AuditEvent.Action.REFUSED).count()
        assert audited == REFUSAL_LIMIT
        for _ in range(3):
            limited = attempt(client, learner_api, code, running_session)
            assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
            assert 1 <= int(limited["Retry-After"]) <= 60
        assert AuditEvent.objects.filter(action=AuditEvent.Action.REFUSED).count() == audited

    def test_refusals_count_per_address_across_learners(
        self, client, learner_api, other_learner_api, enrollment_offer, proctoring_offer, make_code, running_session,
        counter_store,
    ):  # fmt: skip
        code = make_code(enrollment_offer)
        for persona in [learner_api, other_learner_api] * (REFUSAL_LIMIT // 2):
            body = json.dumps({"code": code, "session": running_session.slug, "product": "proctoring"})
            response = client.post(REDEEM, body, content_type="application/json", REMOTE_ADDR="203.0.113.9",
                                   **persona.auth)  # fmt: skip
            assert response.json()["error"] == "wrong_product"
        assert attempt(client, learner_api, code, running_session).status_code == 429
        assert attempt(client, learner_api, code, running_session, address="192.0.2.7").status_code == 201

    def test_checks_count_too(self, client, learner_api, other_learner_api, enrollment_offer, make_code,
                              running_session, counter_store):  # fmt: skip
        code = make_code(enrollment_offer)
        assert attempt(client, other_learner_api, code, running_session, address="192.0.2.7").status_code == 201
        for _ in range(REFUSAL_LIMIT):
            assert attempt(client, learner_api, code, running_session, url=CHECK).json()["error"] == "exhausted"
        assert attempt(client, learner_api, code, running_session, url=CHECK).status_code == 429
