"""The catalog routes over HTTP: status codes, shapes, the catalog scope, would_break_codes and
?force=true, tenancy between two platforms."""

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tessera.api.services import api_token_issue
from tessera.catalog.models import Course, CourseSession
from tessera.platforms.models import PlatformSession
from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent, Batch, Offer, Product
from tessera.vouchers.selectors.codes import display_code
from tests.platforms.conftest import TokenFor

pytestmark = pytest.mark.django_db

COURSE = "/api/v1/platform/courses/py101"
SESSION = f"{COURSE}/sessions/py101-2026"
IMPORT = "/api/v1/platform/catalog:import"


class Caller:
    """A platform's server calling the API with one access token."""

    def __init__(self, client: Client, token: str) -> None:
        self.client, self.auth = client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def put(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.put(url, json.dumps(body), content_type="application/json", **self.auth)

    def post(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.post(url, json.dumps(body), content_type="application/json", **self.auth)

    def get(self, url: str) -> Any:
        return self.client.get(url, **self.auth)

    def delete(self, url: str) -> Any:
        return self.client.delete(url, **self.auth)


@pytest.fixture
def a(client: Client, platform_a: Credentials, token_for: TokenFor) -> Caller:
    return Caller(client, token_for(platform_a, "catalog"))


@pytest.fixture
def b(client: Client, platform_b: Credentials, token_for: TokenFor) -> Caller:
    return Caller(client, token_for(platform_b, "catalog"))


def session_body(now: datetime, **changes: object) -> dict[str, Any]:
    now = now.replace(microsecond=0)  # as a platform sends moments (the answer shows milliseconds)
    body = {
        "title": "2026 run", "starts_at": (now - timedelta(weeks=1)).isoformat(),
        "ends_at": (now + timedelta(weeks=7)).isoformat(), "capacity": 100, "offers_proctored_certificate": True,
        "reactivation_enabled": True, "reactivation_weeks": 4,
    }  # fmt: skip
    return {**body, **changes}


@pytest.fixture
def with_session(a: Caller, now: datetime) -> PlatformSession:
    assert a.put(COURSE, {"title": "Python"}).status_code == 201
    assert a.put(SESSION, session_body(now)).status_code == 201
    return PlatformSession.objects.select_related("session").get()


class TestCourses:
    def test_created_is_201_updated_or_unchanged_200_with_the_stored_course(self, a: Caller) -> None:
        created = a.put(COURSE, {"title": "Python", "description": "Basics"})
        assert created.status_code == 201
        assert created.json() == {"external_id": "py101", "slug": "moodle-a-py101", "title": "Python",
                                  "description": "Basics"}  # fmt: skip
        again = a.put(COURSE, {"title": "Python", "description": "Basics"})
        assert (again.status_code, again.json()) == (200, created.json())
        renamed = a.put(COURSE, {"title": "Python 3"})
        assert (renamed.status_code, renamed.json()["title"], renamed.json()["description"]) == (200, "Python 3", "")
        assert a.get(COURSE).json() == renamed.json()
        assert list(AuditEvent.objects.filter(action__startswith="course").values_list("action", flat=True)) == [
            "course_created", "course_changed",
        ]  # fmt: skip

    def test_an_unknown_course_is_404(self, a: Caller) -> None:
        assert a.get(COURSE).json()["error"] == "not_found"

    def test_an_id_no_database_could_hold_is_simply_not_found(self, a: Caller, with_session: PlatformSession) -> None:
        for url in (
            "/api/v1/platform/courses/a%00b",
            f"{COURSE}/sessions/a%00b",
            "/api/v1/platform/courses/a%00b/sessions/x",
        ):
            assert a.get(url).status_code == 404, url
        assert a.delete(f"{COURSE}/sessions/a%00b").status_code == 404

    def test_an_external_id_too_long_is_422_naming_it(self, a: Caller) -> None:
        response = a.put(f"/api/v1/platform/courses/{'x' * 256}", {"title": "T"})
        assert (response.status_code, response.json()["field"]) == (422, "external_id")


class TestSessions:
    def test_created_is_201_with_every_field_then_200(self, a: Caller, now: datetime) -> None:
        a.put(COURSE, {"title": "Python"})
        created = a.put(SESSION, session_body(now))
        assert created.status_code == 201
        body = created.json()
        assert {key: body[key] for key in ("external_id", "course", "slug", "state", "capacity")} == {
            "external_id": "py101-2026", "course": "py101", "slug": "moodle-a-py101-2026", "state": "active",
            "capacity": 100,
        }  # fmt: skip
        assert datetime.fromisoformat(body["ends_at"]) == now.replace(microsecond=0) + timedelta(weeks=7)
        assert (body["reactivation_enabled"], body["reactivation_weeks"], body["enrollment_opens_at"]) == (
            True,
            4,
            None,
        )
        again = a.put(SESSION, session_body(now))
        assert (again.status_code, again.json()) == (200, body)
        assert a.get(SESSION).json() == body

    def test_a_session_of_an_unknown_course_is_404(self, a: Caller, now: datetime) -> None:
        assert a.put(SESSION, session_body(now)).status_code == 404
        assert not CourseSession.objects.exists()

    def test_a_session_ending_before_it_starts_is_422_naming_the_field(self, a: Caller, now: datetime) -> None:
        a.put(COURSE, {"title": "Python"})
        response = a.put(SESSION, session_body(now, ends_at=(now - timedelta(weeks=2)).isoformat()))
        assert (response.status_code, response.json()["error"], response.json()["field"]) == (
            422, "invalid_input", "ends_at",
        )  # fmt: skip

    def test_a_malformed_body_is_422(self, a: Caller, now: datetime) -> None:
        a.put(COURSE, {"title": "Python"})
        for bad in ({"capacity": -1}, {"state": "deleted"}, {"starts_at": "soon"}):
            response = a.put(SESSION, session_body(now, **bad))
            assert (response.status_code, response.json()["error"]) == (422, "invalid_input"), bad
        assert not CourseSession.objects.exists()

    def test_delete_archives_once(self, a: Caller, with_session: PlatformSession) -> None:
        first, second = a.delete(SESSION), a.delete(SESSION)
        assert (first.status_code, first.json()["state"]) == (200, "archived")
        assert (second.status_code, second.json()) == (200, first.json())
        assert AuditEvent.objects.filter(action="session_archived").count() == 1


@pytest.fixture
def live_reactivation_codes(
    with_session: PlatformSession, make_offer: Callable[..., Offer], make_batch: Callable[..., Batch]
) -> Batch:
    return make_batch(make_offer(Product.REACTIVATION, with_session.session), count=3)


class TestChangesThatBreakCodes:
    def test_turning_reactivation_off_is_409_with_what_it_would_break(
        self, a: Caller, now: datetime, live_reactivation_codes: Batch
    ) -> None:
        response = a.put(SESSION, session_body(now, reactivation_enabled=False))
        assert response.status_code == 409
        assert response.json()["error"] == "would_break_codes"
        assert response.json()["would_break"] == {"reactivation": 3}
        assert "force=true" in response.json()["detail"]
        assert CourseSession.objects.get().reactivation_enabled

    def test_force_makes_it_and_the_audit_says_what_it_broke(
        self, a: Caller, now: datetime, live_reactivation_codes: Batch
    ) -> None:
        response = a.put(f"{SESSION}?force=true", session_body(now, reactivation_enabled=False))
        assert (response.status_code, response.json()["reactivation_enabled"]) == (200, False)
        assert AuditEvent.objects.get(action="session_changed").detail["broke"] == {"reactivation": 3}

    def test_archiving_with_live_codes_is_409_unless_forced(self, a: Caller, live_reactivation_codes: Batch) -> None:
        refused = a.delete(SESSION)
        assert (refused.status_code, refused.json()["would_break"]) == (409, {"reactivation": 3})
        assert a.delete(f"{SESSION}?force=true").json()["state"] == "archived"


def test_a_learner_cannot_redeem_on_a_session_the_platform_archived(
    a: Caller, client: Client, with_session: PlatformSession, learner: User, make_offer: Callable[..., Offer],
    make_batch: Callable[..., Batch],
) -> None:  # fmt: skip
    batch = make_batch(make_offer(Product.ENROLLMENT, with_session.session))
    a.delete(f"{SESSION}?force=true")
    _, token = api_token_issue(user=learner)
    code = display_code(batch.codes.get().code, batch.prefix)
    response = client.post("/api/v1/redemptions", {"code": code, "session": "moodle-a-py101-2026"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (409, "product_unavailable")


def import_body(now: datetime, sessions: int = 3) -> dict[str, Any]:
    return {
        "courses": [{"external_id": "c0", "title": "Course 0"}, {"external_id": "c1", "title": "Course 1"}],
        "sessions": [{"external_id": f"s{n}", "course": f"c{n % 2}", **session_body(now)} for n in range(sessions)],
    }


class TestImport:
    def test_an_import_answers_its_counts_and_again_changes_nothing(self, a: Caller, now: datetime) -> None:
        first = a.post(IMPORT, import_body(now))
        assert first.status_code == 200
        assert first.json() == {"courses": {"created": 2, "changed": 0, "unchanged": 0},
                                "sessions": {"created": 3, "changed": 0, "unchanged": 0, "archived": 0}}  # fmt: skip
        second = a.post(IMPORT, import_body(now))
        assert second.json()["sessions"] == {"created": 0, "changed": 0, "unchanged": 3, "archived": 0}
        assert AuditEvent.objects.filter(action="catalog_imported").count() == 1

    def test_a_bad_row_is_422_naming_its_index_and_field_and_writes_nothing(self, a: Caller, now: datetime) -> None:
        body = import_body(now)
        body["sessions"][2]["ends_at"] = (now - timedelta(weeks=3)).isoformat()
        response = a.post(IMPORT, body)
        assert (response.status_code, response.json()["field"]) == (422, "sessions[2].ends_at")
        body["sessions"][1]["capacity"] = "many"
        malformed = a.post(IMPORT, body)
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["loc"][-3:] == ["sessions", 1, "capacity"]
        assert not Course.objects.exists()
        assert not AuditEvent.objects.exclude(action="platform_created").exists()

    def test_an_import_that_would_break_codes_is_409_unless_forced(
        self, a: Caller, now: datetime, live_reactivation_codes: Batch
    ) -> None:
        body = {"courses": [], "sessions": [{"external_id": "py101-2026", "course": "py101",
                                              **session_body(now, state="archived")}]}  # fmt: skip
        refused = a.post(IMPORT, body)
        assert (refused.status_code, refused.json()["would_break"]) == (409, {"reactivation": 3})
        assert a.post(f"{IMPORT}?force=true", body).json()["sessions"]["archived"] == 1


class TestTheCatalogScope:
    ROUTES = [("put", COURSE), ("get", COURSE), ("put", SESSION), ("get", SESSION), ("delete", SESSION),
              ("post", IMPORT)]  # fmt: skip

    @pytest.mark.parametrize(("method", "url"), ROUTES)
    def test_a_token_without_it_is_403_naming_it(
        self, client: Client, platform_a: Credentials, token_for: TokenFor, now: datetime, method: str, url: str
    ) -> None:
        caller = Caller(client, token_for(platform_a, "redeem events"))
        body = import_body(now) if url == IMPORT else session_body(now) if "sessions" in url else {"title": "T"}
        response = getattr(caller, method)(url, body) if method in ("put", "post") else getattr(caller, method)(url)
        assert response.status_code == 403
        assert (response.json()["error"], response.json()["scope"]) == ("insufficient_scope", "catalog")
        assert 'scope="catalog"' in response["WWW-Authenticate"]
        assert not Course.objects.exists()

    def test_no_token_is_401(self, client: Client, db: None) -> None:
        assert client.put(COURSE, "{}", content_type="application/json").status_code == 401


class TestTenancy:
    def test_another_platform_can_neither_see_change_nor_archive_a_platforms_session(
        self, a: Caller, b: Caller, now: datetime, with_session: PlatformSession
    ) -> None:
        assert b.get(COURSE).status_code == 404
        assert b.get(SESSION).status_code == 404
        assert b.put(SESSION, session_body(now, title="Hijacked")).status_code == 404  # b has no course py101
        assert b.delete(SESSION).status_code == 404
        imported = b.post(IMPORT, {"sessions": [{"external_id": "x", "course": "py101", **session_body(now)}]})
        assert (imported.status_code, imported.json()["field"]) == (422, "sessions[0].course")
        assert a.get(SESSION).json()["title"] == "2026 run"
        assert a.get(SESSION).json()["state"] == "active"

    def test_the_same_external_ids_under_two_platforms_are_two_sessions(
        self, a: Caller, b: Caller, now: datetime, with_session: PlatformSession
    ) -> None:
        assert b.put(COURSE, {"title": "B's Python"}).status_code == 201
        theirs = b.put(SESSION, session_body(now, title="B's run"))
        assert (theirs.status_code, theirs.json()["slug"]) == (201, "edx-b-py101-2026")
        assert a.get(SESSION).json()["title"] == "2026 run"
        assert a.get(COURSE).json()["title"] == "Python"
        assert CourseSession.objects.count() == 2
