"""Settings read at start-up: a value Tessera cannot use stops it with one line naming the variable;
production mode (TESSERA_HTTPS) passes Django's deploy check; local state is the owner's only."""

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.settings import env_rates


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


class TestAccountSettings:
    def test_log_in_limits_are_read_like_the_failed_attempt_limits(self, monkeypatch):
        monkeypatch.setenv("TESSERA_LOGIN_ATTEMPTS", "3/30s, 20/1h")
        assert env_rates("TESSERA_LOGIN_ATTEMPTS", "5/1m,50/1d") == [(3, 30), (20, 3600)]

    @pytest.mark.parametrize(
        ("name", "value"), [("TESSERA_LOGIN_ATTEMPTS", "5 a minute"), ("TESSERA_SIGNUP", "closed")]
    )
    def test_a_value_it_cannot_read_stops_start_up_naming_the_variable(self, tmp_path, name, value):
        result = start_with(tmp_path, **{name: value})
        assert result.returncode != 0
        assert (
            result.stderr.strip().splitlines()[-1].startswith(f"django.core.exceptions.ImproperlyConfigured: {name} ")
        )


class TestEnvironmentValues:
    """Settings are read once at start-up; a value that cannot be read stops it with one line."""

    def test_a_non_number_is_refused_by_name(self, tmp_path):
        result = start_with(tmp_path, TESSERA_CODE_LENGTH="sixteen")
        assert result.returncode != 0
        assert "TESSERA_CODE_LENGTH is a whole number, not 'sixteen'." in result.stderr

    def test_an_unknown_switch_word_is_refused_rather_than_read_as_off(self, tmp_path):
        result = start_with(tmp_path, TESSERA_VOUCHERS="enabled")
        assert result.returncode != 0
        assert "TESSERA_VOUCHERS is on or off, not 'enabled'." in result.stderr

    def test_plain_values_are_read(self, tmp_path):
        assert start_with(tmp_path, TESSERA_VOUCHERS="off", TESSERA_CODE_LENGTH="20").returncode == 0


class TestPublicUrl:
    @pytest.mark.parametrize("value", ["tessera.example", "ftp://tessera.example", "https://", "https://x.example/a b",
                                       "https://x.example/?next=1", "javascript:alert(1)"])  # fmt: skip
    def test_an_address_that_is_no_http_url_stops_start_up(self, tmp_path, value):
        result = start_with(tmp_path, TESSERA_PUBLIC_URL=value)
        assert result.returncode != 0
        assert "TESSERA_PUBLIC_URL is an http or https address" in result.stderr.strip().splitlines()[-1]

    @pytest.mark.parametrize(
        ("value", "read"),
        [("https://tessera.example/", "https://tessera.example"), ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
         ("https://example.org/vouchers/", "https://example.org/vouchers"), ("", "")],
    )  # fmt: skip
    def test_an_address_is_read_without_its_trailing_slash(self, tmp_path, value, read):
        script = "import tessera.settings as s; print(s.TESSERA_PUBLIC_URL)"
        result = subprocess.run(  # noqa: S603 - this interpreter, the test's own arguments
            [sys.executable, "-c", script], env={**os.environ, "TESSERA_VAR_DIR": str(tmp_path),
                                                 "TESSERA_PUBLIC_URL": value},
            capture_output=True, text=True,
        )  # fmt: skip
        assert (result.returncode, result.stdout.strip()) == (0, read)


# --- production mode (README, "Running in production") ----------------------------------------

SECRET = secrets.token_urlsafe(50)
PRODUCTION = {"TESSERA_HTTPS": "on", "TESSERA_SECRET_KEY": SECRET, "TESSERA_ALLOWED_HOSTS": "testserver"}
HSTS = "max-age=31536000; includeSubDomains"

# Answers, as JSON, what plain and proxied requests to the health check and a page get.
ASK = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client()
def seen(path, **headers):
    response = client.get(path, **headers)
    return {"status": response.status_code, "location": response.get("Location"),
            "hsts": response.get("Strict-Transport-Security")}
print(json.dumps({
    "healthz": seen("/healthz"),
    "login": seen("/login"),
    "login_https": seen("/login", secure=True),
    "healthz_forwarded": seen("/healthz", HTTP_X_FORWARDED_PROTO="https"),
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
}))
"""

# Makes the SQLite database as the first query of a fresh installation would.
FIRST_QUERY = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x integer)")
"""


def run_python(var_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python with Tessera's settings in a process of its own: no TESSERA_ variable or DATABASE_URL
    but those given, and a var/ of its own (so SQLite)."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(("TESSERA_", "DATABASE_URL"))}
    return subprocess.run(  # noqa: S603 - this interpreter, the test's own arguments
        [sys.executable, *args],
        env={**inherited, "DJANGO_SETTINGS_MODULE": "tessera.settings", "TESSERA_VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
    )


def asked(var_dir: Path, **env: str) -> dict:
    result = run_python(var_dir, "-c", ASK, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return asked(tmp_path_factory.mktemp("var"), **PRODUCTION)


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return asked(tmp_path_factory.mktemp("var"), **PRODUCTION, TESSERA_PROXY_SSL_HEADER="X-Forwarded-Proto")


class TestProductionMode:
    def test_djangos_deploy_check_finds_no_issues(self, tmp_path):
        result = run_python(tmp_path, "-m", "tessera.cli", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues" in result.stdout

    def test_without_a_secret_key_it_refuses_to_start_naming_the_variable(self, tmp_path):
        result = run_python(tmp_path, "-c", "import tessera.settings", **{**PRODUCTION, "TESSERA_SECRET_KEY": ""})
        assert result.returncode != 0
        assert "TESSERA_SECRET_KEY must be set when TESSERA_HTTPS is on" in result.stderr.strip().splitlines()[-1]

    def test_debug_is_refused(self, tmp_path):
        result = run_python(tmp_path, "-c", "import tessera.settings", **PRODUCTION, TESSERA_DEBUG="on")
        assert result.returncode != 0
        assert "TESSERA_DEBUG must be off when TESSERA_HTTPS is on." in result.stderr.strip().splitlines()[-1]

    def test_plain_http_is_sent_to_https_but_the_health_check_answers(self, production):
        assert production["login"]["status"] == 301
        assert production["login"]["location"] == "https://testserver/login"
        assert production["healthz"]["status"] == 200

    def test_https_answers_carry_hsts_and_the_cookies_are_secure(self, production):
        assert production["login_https"]["status"] == 200
        assert production["login_https"]["hsts"] == HSTS
        assert production["cookies_secure"] == [True, True]

    def test_the_proxys_header_is_believed_only_when_named(self, production, behind_a_proxy):
        assert production["healthz_forwarded"]["hsts"] is None
        assert behind_a_proxy["healthz_forwarded"]["hsts"] == HSTS

    def test_a_header_name_it_cannot_use_stops_start_up(self, tmp_path):
        result = start_with(tmp_path, TESSERA_PROXY_SSL_HEADER="X-Forwarded-Proto: https")
        assert result.returncode != 0
        assert "TESSERA_PROXY_SSL_HEADER is a header name such as X-Forwarded-Proto" in result.stderr


class TestLocalState:
    def test_a_fresh_var_dir_the_database_and_the_secret_key_are_the_owners_only(self, tmp_path):
        var = tmp_path / "var"
        result = run_python(var, "-c", FIRST_QUERY)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(var.stat().st_mode) == 0o700
        database = var / "tessera.sqlite3"
        assert database.stat().st_size > 0  # written by SQLite, not just the empty file made first
        for private in [database, var / "secret_key", *var.glob("tessera.sqlite3-*")]:
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private


class TestContentSecurityPolicy:
    def test_every_page_allows_scripts_and_styles_from_this_site_only(self, client, db):
        policy = client.get("/courses")["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy


class TestMail:
    def read(self, tmp_path, **env: str) -> dict[str, object]:
        names = ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_FILE_PATH", "DEFAULT_FROM_EMAIL"]
        script = f"import json, tessera.settings as s; print(json.dumps({{n: str(getattr(s, n)) for n in {names!r}}}))"
        clean = {key: value for key, value in os.environ.items() if "EMAIL" not in key}
        result = subprocess.run(  # noqa: S603 - this interpreter, the test's own arguments
            [sys.executable, "-c", script], env={**clean, "TESSERA_VAR_DIR": str(tmp_path), **env},
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def test_without_a_mail_server_mails_are_files_in_var_mail(self, tmp_path):
        read = self.read(tmp_path)
        assert read["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
        assert read["EMAIL_FILE_PATH"] == str(tmp_path / "mail")

    def test_a_mail_server_is_named_by_tesseras_variables_or_djangos(self, tmp_path):
        env = {"TESSERA_EMAIL_HOST": "smtp.example", "EMAIL_HOST": "other.example", "EMAIL_PORT": "587",
               "TESSERA_EMAIL_USE_TLS": "on", "DEFAULT_FROM_EMAIL": "codes@example.org"}  # fmt: skip
        read = self.read(tmp_path, **env)
        assert read == {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "smtp.example",
            "EMAIL_PORT": "587", "EMAIL_USE_TLS": "True", "EMAIL_FILE_PATH": str(tmp_path / "mail"),
            "DEFAULT_FROM_EMAIL": "codes@example.org",
        }  # fmt: skip

    @pytest.mark.parametrize(("name", "value"), [("TESSERA_EMAIL_PORT", "smtp"), ("EMAIL_USE_TLS", "maybe")])
    def test_a_value_it_cannot_read_stops_start_up_naming_the_variable(self, tmp_path, name, value):
        result = start_with(tmp_path, **{name: value})
        assert result.returncode != 0
        assert name in result.stderr.strip().splitlines()[-1]

    def test_tls_and_ssl_together_stop_start_up(self, tmp_path):
        result = start_with(tmp_path, EMAIL_USE_TLS="on", EMAIL_USE_SSL="on")
        assert "do not go together" in result.stderr.strip().splitlines()[-1]
