"""Redis, holding the rate limiter's counters, stops answering mid-traffic: failed attempts are
still answered (no 5xx) and counted, in the database, and only the first call waits for Redis.

A real redis-server of the test's own on a free port, frozen with SIGSTOP: connections are still
accepted, answers never come, the worst case (a Redis that refuses is noticed at once).
"""

import json
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tessera.api.services import api_token_issue
from tessera.core.models import FailureCounter
from tessera.core.ratelimit import stores
from tessera.vouchers import codes as codebook
from tests.faults.conftest import unavailable
from tests.loopback import free_port

CHECK = "/api/v1/codes/check"


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if shutil.which("redis-server") is None:
        unavailable("no redis-server on this machine")
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603 - our own arguments
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)
        client.close()
        yield url, server
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()


@pytest.fixture
def limited_by_redis(settings, private_redis) -> Iterator[subprocess.Popen[bytes]]:
    """The rate limiter on the private Redis, with a fresh client (and no back-off yet)."""
    settings.REDIS_URL = private_redis[0]
    settings.TESSERA_FAILED_ATTEMPTS = [(100, 60)]
    stores._redis_store.cache_clear()
    yield private_redis[1]
    stores._redis_store.cache_clear()


def failed_check(client, token: str, session_slug: str) -> tuple[int, float]:
    body = json.dumps({"code": codebook.generate(1)[0], "session": session_slug})
    started = time.monotonic()
    response = client.post(CHECK, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, time.monotonic() - started


def redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("Redis failed")]


@pytest.mark.usefixtures("ratelimit_clock")  # the ten counts land in one minute's window, one row
class TestRedisStoppedMidTraffic:
    def test_failures_are_answered_and_counted_in_the_database_and_only_the_first_call_waits(
        self, client, learner, running_session, limited_by_redis, caplog
    ):
        _, token = api_token_issue(user=learner)
        assert [failed_check(client, token, running_session.slug)[0] for _ in range(3)] == [404] * 3
        assert not FailureCounter.objects.exists()  # counted in Redis

        limited_by_redis.send_signal(signal.SIGSTOP)
        answers = [failed_check(client, token, running_session.slug) for _ in range(10)]

        assert [status for status, _ in answers] == [404] * 10
        assert FailureCounter.objects.get(key=f"user:{learner.pk}/60").count == 10
        first, rest = answers[0][1], [seconds for _, seconds in answers[1:]]
        timings = f"first {first:.3f} s, then median {statistics.median(rest):.3f} s, max {max(rest):.3f} s"
        assert first >= stores.REDIS_TIMEOUT, timings  # the read that timed out
        # Back-off: the other nine go straight to the database. Each that tried Redis would log a
        # warning and wait out two timeouts (its read and its count); the median leaves a loaded
        # machine room for a slow request or two.
        assert len(redis_warnings(caplog)) == 1, timings
        assert statistics.median(rest) < stores.REDIS_TIMEOUT, timings
