"""`tessera run` really serves: start it as a user would, fetch pages, stop it."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TESSERA = Path(sys.executable).with_name("tessera")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, deadline: float) -> tuple[int, bytes]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PORT=str(port), TESSERA_VAR_DIR=str(tmp_path), TESSERA_WORKERS="1", PATH="/usr/bin:/bin")
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen([str(TESSERA), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        yield f"http://127.0.0.1:{port}"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


class TestRun:
    def test_the_server_answers_with_the_venv_off_the_path(self, served):
        status, body = _get(f"{served}/healthz", deadline=time.monotonic() + 30)
        assert status == 200
        assert body == b'{"status": "ok"}'

    def test_admin_assets_are_served(self, served):
        status, body = _get(f"{served}/static/admin/css/base.css", deadline=time.monotonic() + 30)
        assert status == 200
        assert b"body" in body
