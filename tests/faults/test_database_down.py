"""The database stopped under a running server: every surface answers 503 with Retry-After
within seconds, never a 500 or a hang, and serves again by itself once the database is back.

Tessera runs as `tessera run` (gunicorn) on the private PostgreSQL (conftest.py), which the test
stops with `pg_ctl stop -m fast` and starts again.
"""

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.conftest import (
    TESSERA,
    PrivatePostgres,
    tessera_environment,
    tessera_python,
    wait_until_served,
)
from tests.loopback import free_port

SESSION = "python-basics-2026"
# connect_timeout bounds a connection attempt to a database that does not answer at all.
DATABASE_OPTIONS = "?connect_timeout=2"
# A refusal must come quickly: the client is told to come back, not left waiting.
PROMPT = 5.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def call(url: str, *, token: str = "", data: dict | None = None) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if data is not None:
        body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - our own server
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
            return Answer(response.status, dict(response.headers), response.read(), time.monotonic() - started)
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read(), time.monotonic() - started)


@dataclass
class Served:
    base: str
    learner_tokens: dict[str, str]
    shop_token: str
    codes: list[str]
    log: Path

    def redeem(self, code: str, *, learner: str) -> Answer:
        token = self.learner_tokens[learner]
        return call(f"{self.base}/api/v1/redemptions", token=token, data={"code": code, "session": SESSION})

    def bridge_list(self) -> Answer:
        return call(f"{self.base}/bridges/shop/vouchers", token=self.shop_token)

    def page(self) -> Answer:
        return call(f"{self.base}/courses")


# Three codes of an enrollment offer, a shop's token and two learners' API tokens.
DATA = f"""
import json
from django.contrib.auth.models import User
from tessera.catalog.demo import demo_catalog_load
from tessera.api.services import api_token_issue
from tessera.shop.services import shop_create, token_issue
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import BatchSpec, batch_create, offer_create

running, _, _ = demo_catalog_load()
assert running.slug == "{SESSION}"
offer = offer_create(name="Enrollment", product="enrollment", session=running)
batch = batch_create(offer=offer, spec=BatchSpec(count=3, country="DE"))
learners = {{name: api_token_issue(user=User.objects.create(username=name))[1] for name in ("alice", "bob")}}
print(json.dumps({{
    "codes": [display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)],
    "shop_token": token_issue(shop=shop_create(name="Acme"))[1],
    "learner_tokens": learners,
}}))
"""


@pytest.fixture
def served(private_postgres: PrivatePostgres, postgres_database: str, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    database_url = postgres_database + DATABASE_OPTIONS
    env = tessera_environment(tmp_path, DATABASE_URL=database_url, PORT=str(port), TESSERA_WORKERS="1")
    data = tessera_python(env, DATA)
    codes, shop_token, learner_tokens = data["codes"], data["shop_token"], data["learner_tokens"]
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own command
            [str(TESSERA), "run", "--no-task-worker"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_served(f"http://127.0.0.1:{port}")
            yield Served(f"http://127.0.0.1:{port}", learner_tokens, shop_token, codes, log)
        finally:
            private_postgres.start_if_stopped()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


class TestDatabaseStoppedUnderTraffic:
    def test_every_surface_answers_503_then_serves_again_when_the_database_returns(self, served, private_postgres):
        assert len(served.codes) == 3
        assert served.redeem(served.codes[0], learner="alice").status == 201
        assert served.bridge_list().status == 200
        assert served.page().status == 200

        private_postgres.stop("fast")
        redeemed, listed, page = served.redeem(served.codes[1], learner="bob"), served.bridge_list(), served.page()

        assert (redeemed.status, listed.status, page.status) == (503, 503, 503)
        assert redeemed.json()["error"] == "database_unavailable"
        assert listed.json()["error"] == "database_unavailable"
        assert listed.json()["errors"]["base"] == [listed.json()["errors"]["base"][0]]
        assert b"Service unavailable" in page.body
        for answer in (redeemed, listed, page):
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.seconds < PROMPT

        private_postgres.start()
        # The same server, not restarted: each answers at the first try.
        assert served.redeem(served.codes[1], learner="bob").status == 201  # the refused attempt changed nothing
        assert served.bridge_list().status == 200
        assert served.page().status == 200
        log = served.log.read_text()
        assert "Database unavailable (OperationalError" in log
        assert "Traceback" not in log
