"""Tessera's settings, all read from the environment (see docs/operations/configuration.md)."""

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("TESSERA_VAR_DIR", Path.cwd() / "var"))
# Readable by its owner only: it holds the secret key and the SQLite database. A var/ made
# before (or by the operator) keeps its mode.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name} is on or off, not {value!r}.")
    return value in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is a whole number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def local_secret_key() -> str:
    """A key made once per machine and kept in var/ (never in the repository), so that every
    server process and every restart signs sessions alike."""
    path = VAR_DIR / "secret_key"
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key_file:
            key_file.write(os.urandom(32).hex())
    except FileExistsError:
        pass  # made before, or by a process starting at the same moment
    return path.read_text().strip()


# Production mode: the site is reached over HTTPS only (docs/operations/production.md).
HTTPS = env_flag("TESSERA_HTTPS", False)
DEBUG = env_flag("TESSERA_DEBUG", False)
if HTTPS and DEBUG:
    # Refused rather than quietly switched off: a debug page shows settings and source to
    # anyone, and whoever asked for both should learn that they do not go together.
    raise ImproperlyConfigured("TESSERA_DEBUG must be off when TESSERA_HTTPS is on.")
if HTTPS and not os.environ.get("TESSERA_SECRET_KEY"):
    # A key in var/ is one machine's: several servers would not accept each other's sessions,
    # and a lost var/ would log everybody out.
    raise ImproperlyConfigured("TESSERA_SECRET_KEY must be set when TESSERA_HTTPS is on (a long random string).")
SECRET_KEY = os.environ.get("TESSERA_SECRET_KEY") or local_secret_key()
ALLOWED_HOSTS = env_list("TESSERA_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "tessera.web.apps.AdminConfig",  # Django's admin, its log-in under the log-in limits
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",  # serves htmx from its own static files (no CDN) for the staff pages
    "ninja",  # serves the API docs' Swagger UI from its own static files, not a CDN
    "tessera.core",
    "tessera.catalog",
    "tessera.vouchers",
    "tessera.shop",
    "tessera.api",
    "oauth2_provider",  # course platforms' OAuth 2.0 clients and their access tokens
    "tessera.platforms",
    "tessera.web",
    # After tessera.core, whose db_worker command (the task worker that also runs the apps' chores,
    # tessera/core/chores.py) takes the place of django_tasks_db's: of two commands, the earlier app's wins.
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    # First, so its process_exception is asked last: it answers only database errors (503).
    "tessera.core.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tessera.vouchers.middleware.VoucherSurfaceMiddleware",
    "tessera.shop.middleware.BridgePathMiddleware",
    "tessera.core.middleware.AdminNulMiddleware",
    "tessera.platforms.middleware.CatalogImportBodyMiddleware",
    "tessera.api.middleware.CodesImportBodyMiddleware",
]

ROOT_URLCONF = "tessera.urls"
WSGI_APPLICATION = "tessera.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tessera.web.context_processors.surfaces",
            ],
        },
    },
]


def database_config() -> dict[str, Any]:
    """SQLite by default; DATABASE_URL switches to PostgreSQL (or any URL dj-database-url reads)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"] == "django.db.backends.postgresql":
            config["TEST"] = {"NAME": os.environ.get("TESSERA_TEST_DB_NAME", "test_tessera")}
        return dict(config)
    path = os.environ.get("TESSERA_SQLITE_PATH", str(VAR_DIR / "tessera.sqlite3"))
    private_file(path)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue for it instead
        # of failing half way with "database is locked" when a reader upgrades to a writer.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not :memory:, so that threads in concurrency tests share one database.
        "TEST": {"NAME": str(VAR_DIR / "test_tessera.sqlite3")},
    }


def private_file(path: str) -> None:
    """Creates an empty file readable by its owner only, unless it exists. SQLite takes an empty
    file for an empty database and gives its -wal and -shm files the database file's mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    # It may exist already; or e.g. its directory may not, which SQLite reports at the first query.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The learner pages (tessera.web): where to log in, and where to go after logging in or out.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/dashboard"
LOGOUT_REDIRECT_URL = "/courses"

# Sign-up, the admin's user forms, createsuperuser and changepassword check new passwords with
# these (create_user in code does not).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves from finders (no collectstatic needed) but warns when the root is missing.
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serves admin assets straight from the installed apps, so `tessera run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TESSERA_LOG_LEVEL", "INFO")},
}

# Background jobs (webhook deliveries, big batches) run in `tessera db_worker`, fed through the
# database, so they work alike on SQLite and PostgreSQL with no broker to run.
# Webhook deliveries have a queue (and, under `tessera run`, a worker) of their own, so a flood of
# them, or shops that answer slowly, never delays a batch job on the default queue.
TASK_QUEUES = ["default", "webhooks"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": TASK_QUEUES}}

# Optional: with REDIS_URL set, shared counters (rate limits) live in Redis, not the database.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Checked at start-up, not at the first failed attempt. Only the scheme is echoed: the rest of
# the address may hold a password.
_redis_scheme = REDIS_URL.partition("://")[0].lower() if "://" in REDIS_URL else ""
if REDIS_URL and _redis_scheme not in {"redis", "rediss", "unix"}:
    _shown = f"{_redis_scheme}://" if _redis_scheme else "no scheme"
    raise ImproperlyConfigured(f"REDIS_URL starts with redis://, rediss:// or unix://, not {_shown}.")

# --- HTTPS and the browser's protections (docs/operations/production.md) ---
# Only with TESSERA_HTTPS on: behind plain HTTP these would lock everybody out (secure cookies
# are never sent back) or redirect in circles.
if HTTPS:
    SECURE_SSL_REDIRECT = True
    # A load balancer's health check may come in plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = 365 * 86400
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Preloading is a promise for the whole domain that is slow to take back: the operator opts in.
SECURE_HSTS_PRELOAD = HTTPS and env_flag("TESSERA_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "preload is off": by design, see above

# The header by which a TLS-terminating proxy says the request came in over HTTPS, e.g.
# X-Forwarded-Proto. Believed only when named: a client could send it past a proxy that
# does not set it.
_proxy_ssl_header = os.environ.get("TESSERA_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
        raise ImproperlyConfigured(
            f"TESSERA_PROXY_SSL_HEADER is a header name such as X-Forwarded-Proto, not {_proxy_ssl_header!r}."
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

# In every mode: the pages load scripts, styles and images from this site only, and no inline
# script runs. htmx (django-htmx) and the API docs' Swagger UI (ninja) are static files here too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # data: Swagger UI's stylesheet draws its icons from data: URLs
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],  # as X-Frame-Options: DENY
    },
}

# --- Tessera's own configuration (docs/operations/configuration.md) ---
TESSERA_VOUCHERS_ENABLED = env_flag("TESSERA_VOUCHERS", True)
TESSERA_PRODUCTS_ENABLED = env_list("TESSERA_PRODUCTS", ["enrollment", "proctoring", "reactivation", "assessment"])
TESSERA_REACTIVATION_WEEKS = env_int("TESSERA_REACTIVATION_WEEKS", 8)
TESSERA_CODE_LENGTH = env_int("TESSERA_CODE_LENGTH", 16)
TESSERA_CODE_PREFIX = os.environ.get("TESSERA_CODE_PREFIX", "")
# The site's address as learners reach it (https://tessera.example, or with a path), for links
# that leave the site: the QR codes of printed cards. Empty: a page or API request's own address,
# and `tessera print-cards` refuses.
TESSERA_PUBLIC_URL = os.environ.get("TESSERA_PUBLIC_URL", "").strip().rstrip("/")
if TESSERA_PUBLIC_URL and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?", TESSERA_PUBLIC_URL):
    raise ImproperlyConfigured(f"TESSERA_PUBLIC_URL is an http or https address, not {TESSERA_PUBLIC_URL!r}.")
# A MaxMind-format country database (.mmdb); empty: learners' countries are not looked up.
TESSERA_GEOIP_DATABASE = os.environ.get("TESSERA_GEOIP_DATABASE", "")
# Paths that exist only while vouchers are on; with vouchers off they answer 404.
TESSERA_VOUCHER_PATHS = ["/admin/vouchers/", "/admin/shop/", "/admin/platform/", "/bridges/shop", "/api/v1/", "/staff/"]

# --- Batch jobs written by the task worker (docs/operations/failures.md) ---
# A running job without a heartbeat for this long has lost its worker and is queued again...
TESSERA_JOB_LEASE_SECONDS = env_int("TESSERA_JOB_LEASE_SECONDS", 600)
# ... until it has been started this many times; then it fails (and staff may queue it again).
TESSERA_JOB_ATTEMPTS = env_int("TESSERA_JOB_ATTEMPTS", 3)
if TESSERA_JOB_LEASE_SECONDS < 1 or TESSERA_JOB_ATTEMPTS < 1:
    raise ImproperlyConfigured("TESSERA_JOB_LEASE_SECONDS and TESSERA_JOB_ATTEMPTS are 1 or more.")

# --- Mail: codes sent to their recipients (docs/sending-codes.md) ---
# Each is read from TESSERA_EMAIL_<NAME> or, failing that, Django's own name (EMAIL_HOST ...).


def mail_variable(name: str) -> str:
    """TESSERA_<name> if it is set, else <name> (Django's own)."""
    return f"TESSERA_{name}" if f"TESSERA_{name}" in os.environ else name


def env_mail(name: str, default: str = "") -> str:
    return os.environ.get(mail_variable(name), default).strip() or default


EMAIL_HOST = env_mail("EMAIL_HOST", "")
EMAIL_PORT = env_int(mail_variable("EMAIL_PORT"), 25)
EMAIL_HOST_USER = env_mail("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_mail("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_flag(mail_variable("EMAIL_USE_TLS"), False)
EMAIL_USE_SSL = env_flag(mail_variable("EMAIL_USE_SSL"), False)
EMAIL_TIMEOUT = env_int(mail_variable("EMAIL_TIMEOUT"), 30)
DEFAULT_FROM_EMAIL = env_mail("DEFAULT_FROM_EMAIL", "tessera@localhost")
# Without a mail server named, mails are written to files in var/mail/ (one per mail job's run), so a
# demo shows what would have been sent; with EMAIL_HOST set they go out by SMTP.
EMAIL_FILE_PATH = env_mail("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_BACKEND = env_mail(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL do not go together: choose one.")
# The language of the built-in templates a recipient without one (or with one no template has) gets.
TESSERA_MAIL_LANGUAGE = os.environ.get("TESSERA_MAIL_LANGUAGE", "").strip().lower() or "en"
# Runs of a mail job that cannot reach the mail server, each TESSERA_MAIL_RETRY_SECONDS times its
# number after the last; then the job fails and its unsent mails are marked failed.
TESSERA_MAIL_ATTEMPTS = env_int("TESSERA_MAIL_ATTEMPTS", 5)
TESSERA_MAIL_RETRY_SECONDS = env_int("TESSERA_MAIL_RETRY_SECONDS", 60)
if TESSERA_MAIL_ATTEMPTS < 1 or TESSERA_MAIL_RETRY_SECONDS < 1:
    raise ImproperlyConfigured("TESSERA_MAIL_ATTEMPTS and TESSERA_MAIL_RETRY_SECONDS are 1 or more.")
# Where a mail's redeem links come from: a callable (session, base=...) -> (code -> URL). The
# platforms app knows how a platform's session is named in a link; vouchers must not import it.
TESSERA_REDEEM_LINKS = "tessera.platforms.links.redeem_links"

# --- Rate limits on failed and refused redemptions and code checks, and on log-ins (docs/rate-limits.md) ---
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE_FORMAT = '"10/1m,100/1d": attempts / period, the period in s, m, h or d (seconds if no unit), up to 366d'
_LONGEST_PERIOD = 366 * 86400


def env_rates(name: str, default: str) -> list[tuple[int, int]]:
    """Limits as (attempts, seconds) pairs, from e.g. "10/1m,100/1d"; each period at most once,
    since each period has its own counter."""
    text = "".join(os.environ.get(name, "").split()).lower() or default
    rates = [_rate(name, part) for part in text.split(",")]
    periods = [seconds for _, seconds in rates]
    if len(set(periods)) < len(periods):
        raise ImproperlyConfigured(f"{name} names one period twice: {text!r}.")
    return rates


def _rate(name: str, text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]+)/([0-9]*)([smhd]?)", text)
    attempts, number, unit = match.groups() if match else ("0", "", "")
    seconds = int(number or (1 if unit else 0)) * _SECONDS_PER_UNIT[unit or "s"]
    if int(attempts) < 1 or not 1 <= seconds <= _LONGEST_PERIOD:
        raise ImproperlyConfigured(f"{name} is a list like {_RATE_FORMAT}, not {text!r}.")
    return int(attempts), seconds


# At most this many failed redemptions and code checks per user and per client IP, per period.
TESSERA_FAILED_ATTEMPTS = env_rates("TESSERA_FAILED_ATTEMPTS", "10/1m,100/1d")
# At most this many refused redemptions and code checks of any kind (expired, exhausted, ... and
# the failed ones too): each refused redemption writes an audit row.
TESSERA_REFUSED_ATTEMPTS = env_rates("TESSERA_REFUSED_ATTEMPTS", "30/1m,300/1d")
# At most this many failed log-ins (learner pages and admin) per username and per client IP.
TESSERA_LOGIN_ATTEMPTS = env_rates("TESSERA_LOGIN_ATTEMPTS", "5/1m,50/1d")
# Off: no open sign-up; accounts come from the admin or `tessera createsuperuser`.
TESSERA_SIGNUP_ENABLED = env_flag("TESSERA_SIGNUP", True)
# Reverse proxies in front of Tessera that append the client's address to X-Forwarded-For.
TESSERA_TRUSTED_PROXIES = env_int("TESSERA_TRUSTED_PROXIES", 0)
if TESSERA_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(f"TESSERA_TRUSTED_PROXIES is 0 or more, not {TESSERA_TRUSTED_PROXIES}.")
# Days a claimant's address is kept before the daily purge forgets it (docs/operations/personal-data.md).
TESSERA_ADDRESS_RETENTION_DAYS = env_int("TESSERA_ADDRESS_RETENTION_DAYS", 365)
if TESSERA_ADDRESS_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(f"TESSERA_ADDRESS_RETENTION_DAYS is 1 or more, not {TESSERA_ADDRESS_RETENTION_DAYS}.")

# --- Webhooks to shops and course platforms (docs/webhooks.md, docs/platforms.md) ---
# Who sends them: any class with HttpSender's send(); tests record instead of sending.
TESSERA_WEBHOOK_SENDER = "tessera.core.webhooks.HttpSender"
# Seconds for a whole attempt: resolving, connecting, sending and reading the answer's head.
TESSERA_WEBHOOK_TIMEOUT = env_int("TESSERA_WEBHOOK_TIMEOUT", 10)
# Seconds an attempt's claim lasts: a delivery still "sending" after that lost its worker and is
# tried once more. Longer than the timeout, so a live attempt is never taken over.
TESSERA_WEBHOOK_LEASE = env_int("TESSERA_WEBHOOK_LEASE", 2 * TESSERA_WEBHOOK_TIMEOUT)
# on: webhooks may go to loopback and private addresses (shops on the same network); never to
# link-local (cloud metadata), multicast or reserved ones.
TESSERA_WEBHOOK_ALLOW_PRIVATE = env_flag("TESSERA_WEBHOOK_ALLOW_PRIVATE", False)

# --- course platforms (tessera.platforms) -----------------------------------------------------------
# Their servers authenticate with OAuth 2.0 client credentials at POST /oauth/token.
OAUTH2_PROVIDER = {
    "SCOPES": {
        "catalog": "Courses and sessions, offers and codes",
        "redeem": "Check and redeem codes for learners",
        "entitlements": "What learners hold",
        "events": "The event feed",
    },
    "SCOPES_BACKEND_CLASS": "tessera.platforms.scopes.PlatformScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,  # short-lived: a platform asks again with its secret
    # Access tokens are kept only as their SHA-256 checksum, never in plain form.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Every other recommendation of the OAuth 2.0 Security BCP (RFC 9700) too: platforms use client
    # credentials only, so none of these grants or transports is needed (and Django's deploy check
    # stays clean).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# django-oauth-toolkit's models are swappable; naming them lets migrations refer to the setting.
# (Model names, not secrets.)
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
