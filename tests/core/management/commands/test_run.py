"""`tessera run` really serves: start it as a user would, fetch pages, stop it. Beside the server
it runs the task worker, which delivers a shop's webhook."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import standardwebhooks

from tessera.core.management.commands.run import worker_argvs
from tests.loopback import Hook, free_port, hook_receiver, serving, wait_for

TESSERA = Path(sys.executable).with_name("tessera")
# How long `tessera run` may take to answer: it starts Django in five processes at once (itself, a
# worker per queue, gunicorn's master and its worker). On a loaded 2-core machine that took up to
# 20 s, against 4 to 9 s when quiet; 30 s was too little room.
STARTUP_SECONDS = 60


def _get(url: str, deadline: float) -> tuple[int, bytes]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _environment(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PORT=str(port), TESSERA_VAR_DIR=str(var_dir), TESSERA_WORKERS="1", PATH="/usr/bin:/bin")
    env["TESSERA_WEBHOOK_ALLOW_PRIVATE"] = "on"  # the shop's receiver listens on this machine's loopback
    return env


@pytest.fixture
def served(tmp_path: Path):
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [str(TESSERA), "run"], env=_environment(tmp_path, port), stdout=log, stderr=subprocess.STDOUT
        )
        yield f"http://127.0.0.1:{port}"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


class TestRun:
    def test_the_server_answers_with_the_venv_off_the_path(self, served):
        status, body = _get(f"{served}/healthz", deadline=time.monotonic() + STARTUP_SECONDS)
        assert status == 200
        assert body == b'{"status": "ok"}'

    def test_admin_assets_are_served(self, served):
        status, body = _get(f"{served}/static/admin/css/base.css", deadline=time.monotonic() + STARTUP_SECONDS)
        assert status == 200
        assert b"body" in body

    def test_an_unmigrated_database_is_served_without_a_worker(self, served, tmp_path):
        assert _get(f"{served}/healthz", deadline=time.monotonic() + STARTUP_SECONDS)[0] == 200
        log = (tmp_path / "server.log").read_text()
        assert "the database needs `tessera migrate` first" in log
        assert "Traceback" not in log

    def test_the_workers_are_started_by_this_very_interpreter(self):
        assert {tuple(argv[:4]) for argv in worker_argvs()} == {(sys.executable, "-m", "tessera.cli", "db_worker")}

    def test_batch_jobs_and_webhooks_each_have_a_worker_of_their_own(self):
        queues = [argv[argv.index("--queue-name") + 1] for argv in worker_argvs()]
        assert sorted(queues) == ["default", "webhooks"]


@pytest.fixture
def shop_endpoint() -> Iterator[str]:
    """The shop's webhook receiver, on this machine's loopback."""
    with serving(hook_receiver()) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"


class TestRunDeliversWebhooks:
    def test_a_redemption_reaches_the_shop_and_the_worker_stops_with_the_server(self, tmp_path, shop_endpoint):
        port = free_port()
        env = _environment(tmp_path, port)

        def tessera(*args: str) -> str:
            done = subprocess.run([str(TESSERA), *args], env=env, capture_output=True, text=True, check=True)  # noqa: S603
            return done.stdout

        tessera("migrate", "--noinput")
        tessera("demo")
        token = re.search(r"^[0-9a-f]{64}$", tessera("create-shop", "Acme"), re.MULTILINE)[0]
        secret = re.search(r"^whsec_\S+$", tessera("set-shop-webhook", "Acme", shop_endpoint), re.MULTILINE)[0]
        with (tmp_path / "server.log").open("wb") as log:
            server = subprocess.Popen([str(TESSERA), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            try:
                code = _order_one_code(f"http://127.0.0.1:{port}", token)
                tessera("redeem", code, "--user", "alice", "--session", "python-basics-2026")
                body, headers = _first_webhook(seconds=30)
                children = {pid: _role(pid) for pid in _children(server.pid)}
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
        event = standardwebhooks.Webhook(secret).verify(body, headers)
        assert headers["webhook-id"] == event["id"]
        assert (event["type"], event["data"]["id"], event["data"]["course_session"]) == (
            "voucher.redeemed", code, "python-basics-2026",
        )  # fmt: skip
        assert sorted(children.values()) == ["db_worker default", "db_worker webhooks", "gunicorn"]
        assert not [pid for pid in children if _alive(pid)]
        # The worker's other duty: the daily address purge, queued at start (README, "Personal data").
        assert "Daily address purge queued." in (tmp_path / "server.log").read_text()


def _order_one_code(base: str, token: str) -> str:
    """One order, once the server answers. Never sent again: while the server was starting, a
    POST timed out was a POST queued, and each one sent again ordered one more code."""
    _get(f"{base}/healthz", deadline=time.monotonic() + STARTUP_SECONDS)
    form = urllib.parse.urlencode(
        {"qty": "1", "product": "course_enrollment", "country": "DE", "course_session": "python-basics-2026"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/bridges/shop/vouchers", data=form, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
        [voucher] = json.load(response)
    return str(voucher["id"])


def _first_webhook(seconds: float) -> tuple[bytes, dict[str, str]]:
    wait_for(lambda: Hook.received, seconds, "a webhook")
    _, body, headers = Hook.received[0]
    return body, headers


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _role(pid: int) -> str:
    """The child as `tessera run` starts it: gunicorn, or db_worker and its queue (a zombie has no command line)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    if "db_worker" in argv:
        return f"db_worker {argv[argv.index('--queue-name') + 1]}"
    return "gunicorn" if "gunicorn" in argv else " ".join(argv)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
