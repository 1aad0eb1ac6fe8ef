"""Settings read at start-up: a value Tessera cannot use stops it with one line naming the variable."""

import os
import subprocess
import sys

import pytest


def start_with(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import tessera.settings"],
        env={**os.environ, "TESSERA_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


class TestRedisUrl:
    @pytest.mark.parametrize(
        ("value", "named"),
        [
            ("http://127.0.0.1:6379/0", "http://"),
            ("127.0.0.1:6379", "no scheme"),
            ("memcached://:s3cret@cache", "memcached://"),
        ],
    )
    def test_an_address_redis_cannot_read_stops_start_up(self, tmp_path, value, named):
        result = start_with(tmp_path, REDIS_URL=value)
        assert result.returncode != 0
        last_line = result.stderr.strip().splitlines()[-1]
        assert f"REDIS_URL starts with redis://, rediss:// or unix://, not {named}." in last_line
        assert "s3cret" not in result.stderr

    @pytest.mark.parametrize(
        "value", ["", "redis://127.0.0.1:6379/0", "rediss://cache:6380/1", "unix:///run/redis.sock"]
    )
    def test_redis_addresses_and_none_are_read(self, tmp_path, value):
        assert start_with(tmp_path, REDIS_URL=value).returncode == 0
