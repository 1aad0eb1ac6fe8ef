"""Personas and catalog fixtures shared by every test, and the PostgreSQL run's gate.

`make test` runs the suite twice: on SQLite, then with DATABASE_URL pointing at PostgreSQL, where
only the tests that touch the database run again. PostgreSQL that cannot be reached fails the run
under CI=true and is skipped, in one line, elsewhere.
"""

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.test import Client
from django.utils import timezone

from tessera.catalog.models import Assessment, Course, CourseSession, Exam
from tessera.core.ratelimit import limiter
from tessera.shop.models import Shop
from tessera.shop.services import shop_create, token_issue
from tessera.vouchers.models import Batch, Offer, Product
from tessera.vouchers.permissions import MANAGE_VOUCHERS_CODENAME
from tessera.vouchers.services import BatchSpec, batch_create, offer_create, voucher_redeem

DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _postgres_unreachable() -> str | None:
    import psycopg

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
            dbname=db["NAME"], connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError as error:
        return f"{db['HOST']}:{db['PORT'] or 5432}: {str(error).strip().splitlines()[0]}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _on_postgres():
        return
    reason = _postgres_unreachable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.exit(f"PostgreSQL is required under CI=true and cannot be reached ({reason})", returncode=1)
    pytest.exit(f"PostgreSQL run skipped: cannot connect to {reason}", returncode=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL run only database tests run again; pure tests ran on the first pass. The
    tests marked `postgresql` run there only: the SQLite pass leaves them out, so they are never
    skipped, and PostgreSQL that cannot be reached fails the run under CI=true as above."""
    keep, drop = [], []
    for item in items:
        if _on_postgres():
            runs_here = item.get_closest_marker("django_db") or DB_FIXTURES & set(getattr(item, "fixturenames", ()))
        else:
            runs_here = item.get_closest_marker("postgresql") is None
        (keep if runs_here else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- flushing the append-only audit log -----------------------------------------------------


AUDIT_TABLE = "vouchers_auditevent"


def _audit_triggers_lifted(connection: Any) -> tuple[list[str], list[str]]:
    """The statements that take the audit log's triggers (vouchers migration 0008) off, and the
    ones that put them back, for one flush."""
    if connection.vendor == "postgresql":
        return ([f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER USER"], [f"ALTER TABLE {AUDIT_TABLE} ENABLE TRIGGER USER"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [AUDIT_TABLE])
        triggers = cursor.fetchall()
    return [f'DROP TRIGGER "{name}"' for name, _ in triggers], [sql for _, sql in triggers]


@pytest.fixture(autouse=True, scope="session")
def audit_log_flushable() -> Iterator[None]:
    """Transactional tests (transaction=True, live_server) end with Django's flush: TRUNCATE on
    PostgreSQL, DELETE on SQLite, both of which the audit log's triggers refuse. The flush runs
    its statements in one transaction; here the triggers are lifted inside that transaction,
    as DDL that only the table's owner may run, and are back when it commits. This lives only in
    the tests: Tessera itself has no switch that lets anyone past the triggers."""
    operations = type(connections["default"].ops)
    flush = operations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        lift, restore = _audit_triggers_lifted(self.connection)
        flush(self, [*lift, *sql_list, *restore])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "execute_sql_flush", execute_sql_flush)
        yield


# --- personas ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The personas' passwords need no slow, deliberately costly hashing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff", password="staff-pass-1", is_staff=True, is_superuser=True)


@pytest.fixture
def voucher_manager(db: None) -> User:
    """Not a superuser: holds exactly the manage_vouchers permission."""
    user = User.objects.create_user("manager", password="manager-pass-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename=MANAGE_VOUCHERS_CODENAME))
    return user


@pytest.fixture
def learner(db: None) -> User:
    return User.objects.create_user("learner", password="learner-pass-1")


@pytest.fixture
def other_learner(db: None) -> User:
    return User.objects.create_user("other_learner", password="other-pass-1")


def clerk_holding(permissions: Iterable[Permission]) -> User:
    """Staff, not a superuser, holding exactly these permissions."""
    user = User.objects.create_user("clerk", password="clerk-pass-1", is_staff=True)
    user.user_permissions.add(*permissions)
    return user


def clerk_with(*codenames: str) -> User:
    """Staff, not a superuser, holding exactly the permissions of these codenames."""
    return clerk_holding(Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def manager_client(client: Client, voucher_manager: User) -> Client:
    client.force_login(voucher_manager)
    return client


@pytest.fixture
def learner_client(client: Client, learner: User) -> Client:
    client.force_login(learner)
    return client


@pytest.fixture
def make_learners(db: None) -> Callable[[int], list[User]]:
    def make(count: int, prefix: str = "learner") -> list[User]:
        return User.objects.bulk_create(User(username=f"{prefix}{i}") for i in range(count))

    return make


# --- the rate limiter's clock -----------------------------------------------------------------

# 2026-01-01 00:00 UTC: a minute and a day start here.
RATE_LIMIT_DAY_START = 1_767_225_600


class RateLimitClock:
    """The rate limiter's clock, standing still until a test moves it."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def ratelimit_clock(monkeypatch: pytest.MonkeyPatch) -> RateLimitClock:
    """Stops the rate limiter's clock 10 s into a minute, for every test that counts attempts up to
    a limit: the limits' windows are aligned to Unix time, so on the real clock a test that runs
    across a minute's end finds its counts started afresh and its 429 never comes."""
    clock = RateLimitClock(RATE_LIMIT_DAY_START + 10)
    monkeypatch.setattr(limiter, "now", clock)
    return clock


# --- catalog ----------------------------------------------------------------------------------


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def course(db: None) -> Course:
    return Course.objects.create(slug="python", title="Python", description="A course")


@pytest.fixture
def running_session(course: Course, now: datetime) -> CourseSession:
    """Running, enrollment open, offers a proctored certificate; first proctored exam in 2 weeks."""
    session = CourseSession.objects.create(
        course=course, slug="python-2026", state=CourseSession.State.ACTIVE,
        starts_at=now - timedelta(weeks=1), ends_at=now + timedelta(weeks=7),
        offers_proctored_certificate=True,
    )  # fmt: skip
    Exam.objects.create(session=session, title="Midterm", submission_deadline=now + timedelta(weeks=2), proctored=True)
    Exam.objects.create(session=session, title="Final", submission_deadline=now + timedelta(weeks=6), proctored=True)
    return session


@pytest.fixture
def ended_session(course: Course, now: datetime) -> CourseSession:
    """Ended, archived, reactivation on (default period), one graded exam long past."""
    session = CourseSession.objects.create(
        course=course, slug="python-2025", state=CourseSession.State.ARCHIVED,
        starts_at=now - timedelta(weeks=20), ends_at=now - timedelta(weeks=8), reactivation_enabled=True,
    )  # fmt: skip
    Exam.objects.create(session=session, title="Final", submission_deadline=now - timedelta(weeks=9), graded=True)
    return session


@pytest.fixture
def assessment(course: Course, now: datetime) -> Assessment:
    """Part of the Python course, open from a day ago for four weeks; up to three attempts each."""
    return Assessment.objects.create(
        course=course, slug="python-exam", title="Python certification exam", attempts=3,
        opens_at=now - timedelta(days=1), closes_at=now + timedelta(weeks=4),
    )  # fmt: skip


@pytest.fixture
def lone_assessment(db: None) -> Assessment:
    """Sold on its own (no course), always open, one attempt."""
    return Assessment.objects.create(slug="sql-placement", title="SQL placement test")


# --- vouchers ---------------------------------------------------------------------------------


@pytest.fixture
def make_offer(db: None) -> Callable[..., Offer]:
    def make(product: str, session: CourseSession | None, **fields: Any) -> Offer:
        return offer_create(name=f"{product} offer", product=product, session=session, **fields)

    return make


@pytest.fixture
def make_batch() -> Callable[..., Batch]:
    def make(offer: Offer, count: int = 1, actor: str = "system", **fields: Any) -> Batch:
        fields.setdefault("country", "DE")
        return batch_create(offer=offer, spec=BatchSpec(count=count, **fields), actor=actor)

    return make


@pytest.fixture
def make_code(make_batch: Callable[..., Batch]) -> Callable[..., str]:
    """One code of a fresh batch of `offer`, returned as people see it (with dashes)."""

    def make(offer: Offer, **fields: Any) -> str:
        from tessera.vouchers.selectors.codes import display_code

        batch = make_batch(offer, count=1, **fields)
        return display_code(batch.codes.get().code, batch.prefix)

    return make


@pytest.fixture
def enrollment_offer(make_offer: Callable[..., Offer], running_session: CourseSession) -> Offer:
    return make_offer(Product.ENROLLMENT, running_session)


@pytest.fixture
def proctoring_offer(make_offer: Callable[..., Offer], running_session: CourseSession) -> Offer:
    return make_offer(Product.PROCTORING, running_session)


@pytest.fixture
def reactivation_offer(make_offer: Callable[..., Offer], ended_session: CourseSession) -> Offer:
    return make_offer(Product.REACTIVATION, ended_session)


@pytest.fixture
def assessment_offer(db: None, assessment: Assessment) -> Offer:
    """A plain assessment offer: each code gives the assessment's three attempts to a newcomer."""
    return offer_create(name="exam offer", product=Product.ASSESSMENT, assessment=assessment)


@pytest.fixture
def retake_offer(db: None, assessment: Assessment) -> Offer:
    """An offer that adds one attempt, to a holder too (a retake), up to the assessment's three."""
    return offer_create(
        name="retake", product=Product.ASSESSMENT, assessment=assessment, attempts=1, adds_attempts=True
    )


@pytest.fixture
def redeemed_some(
    enrollment_offer: Offer, reactivation_offer: Offer, make_batch: Callable[..., Batch], learner: User,
    other_learner: User, running_session: CourseSession, ended_session: CourseSession,
) -> None:  # fmt: skip
    """Codes for the statistics. Enrollment (python): 4 codes tagged fair, 2 redeemed. Reactivation
    (python): 2 codes of 2 uses tagged mail, one redeemed twice. Reactivation for any course: 5
    codes tagged mail, none redeemed."""
    fair = make_batch(enrollment_offer, count=4, tag="fair")
    for user, code in zip([learner, other_learner], fair.codes.order_by("code"), strict=False):
        voucher_redeem(code=code.code, user=user, session=running_session)
    mail = make_batch(reactivation_offer, count=2, uses_per_code=2, tag="mail")
    shared = mail.codes.order_by("code").first().code
    voucher_redeem(code=shared, user=learner, session=ended_session)
    voucher_redeem(code=shared, user=other_learner, session=ended_session)
    make_batch(offer_create(name="Anywhere", product=Product.REACTIVATION), count=5, tag="mail")


# --- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def private_allowed(settings: Any) -> None:
    """TESSERA_WEBHOOK_ALLOW_PRIVATE=on, for receivers on this machine's loopback."""
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def private_refused(settings: Any) -> None:
    """TESSERA_WEBHOOK_ALLOW_PRIVATE=off, as in production: loopback and private addresses refused."""
    settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = False


# --- shops ------------------------------------------------------------------------------------


@dataclass
class BearerPersona:
    """Someone calling an API with a bearer token; `auth` goes into the test client's request."""

    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


@dataclass
class ShopPersona(BearerPersona):
    shop: Shop


def _shop_persona(name: str) -> ShopPersona:
    shop = shop_create(name=name)
    _, token = token_issue(shop=shop)
    return ShopPersona(shop=shop, token=token)


@pytest.fixture
def shop_a(db: None) -> ShopPersona:
    return _shop_persona("Shop A")


@pytest.fixture
def shop_b(db: None) -> ShopPersona:
    return _shop_persona("Shop B")


# A tag a spreadsheet would run as a formula, as a shop might send it.
FORMULA_TAG = '=HYPERLINK("http://x","y")'


@pytest.fixture
def formula_batch(client: Any, shop_a: ShopPersona) -> Batch:
    """A voucher ordered through the shop bridge with a formula for its tag."""
    order = {"qty": "1", "product": "course_enrollment", "country": "DE", "tag": FORMULA_TAG}
    response = client.post("/bridges/shop/vouchers", order, **shop_a.auth)
    assert response.status_code == 200, response.content
    return Batch.objects.get(tag=FORMULA_TAG)


# --- mail ------------------------------------------------------------------------------------


@pytest.fixture
def public_url(settings: Any) -> str:
    """TESSERA_PUBLIC_URL, which mails' redeem links start with."""
    settings.TESSERA_PUBLIC_URL = "https://tessera.example"
    return str(settings.TESSERA_PUBLIC_URL)


@pytest.fixture
def inbox(settings: Any, public_url: str) -> Iterator[Any]:
    """A real SMTP server on loopback that Tessera's mail goes to (tests/mailserver.py); it
    refuses mailserver.REFUSED."""
    from tests.mailserver import smtp_server

    with smtp_server() as (received, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 10
        yield received
