"""Offers and codes for a platform's sessions over HTTP: shapes, paging, the catalog scope and
tenancy (another platform's offer, batch or session is 404)."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tessera.api.services import api_token_issue
from tessera.platforms.learners import platform_learner
from tessera.platforms.services import Credentials
from tessera.vouchers.models import Assignment, Batch, Offer
from tessera.vouchers.services import send_job_run
from tests.platforms.conftest import TokenFor
from tests.platforms.test_catalog_api import Caller, session_body

pytestmark = pytest.mark.django_db
OFFERS = "/api/v1/platform/offers"


def catalog_of(caller: Caller, now: datetime) -> None:
    assert caller.put("/api/v1/platform/courses/c1", {"title": "Python"}).status_code == 201
    assert caller.put("/api/v1/platform/courses/c1/sessions/s1", session_body(now)).status_code == 201


@pytest.fixture
def a(client: Client, platform_a: Credentials, token_for: TokenFor, now: datetime) -> Caller:
    caller = Caller(client, token_for(platform_a, "catalog"))
    catalog_of(caller, now)
    return caller


@pytest.fixture
def b(client: Client, platform_b: Credentials, token_for: TokenFor, now: datetime) -> Caller:
    caller = Caller(client, token_for(platform_b, "catalog"))
    catalog_of(caller, now)
    return caller


OFFER = {"name": "Spring enrollment", "product": "enrollment", "session": "s1", "price": "49.00", "currency": "eur"}
BATCH = {"count": 3, "country": "de", "tag": "spring", "uses_per_code": 2}


def test_an_offer_is_created_and_named_by_the_platforms_ids(a: Caller) -> None:
    created = a.post(OFFERS, OFFER)
    assert created.status_code == 201
    body = created.json()
    assert {key: body[key] for key in ("name", "product", "session", "course", "price", "currency")} == {
        "name": "Spring enrollment", "product": "enrollment", "session": "s1", "course": "c1", "price": "49.00",
        "currency": "EUR",
    }  # fmt: skip
    assert a.get(f"{OFFERS}/{body['id']}").json() == body
    assert a.get(OFFERS).json() == {"items": [body], "count": 1}


def test_an_offer_may_carry_a_store_link(a: Caller) -> None:
    created = a.post(OFFERS, {**OFFER, "store_url": "https://shop.example/c1/s1"})
    assert (created.status_code, created.json()["store_url"]) == (201, "https://shop.example/c1/s1")
    assert a.post(OFFERS, OFFER).json()["store_url"] == ""


def test_a_bad_store_link_is_422_invalid_store_url(a: Caller) -> None:
    response = a.post(OFFERS, {**OFFER, "store_url": "javascript:alert(1)"})
    assert (response.status_code, response.json()["error"], response.json()["field"]) == (
        422, "invalid_store_url", "store_url",
    )  # fmt: skip
    assert not Offer.objects.exists()


def test_a_batch_is_created_and_its_codes_paged(a: Caller, learner: User) -> None:
    offer = a.post(OFFERS, OFFER).json()
    created = a.post(f"{OFFERS}/{offer['id']}/batches", BATCH)
    assert created.status_code == 201
    batch = created.json()
    assert (batch["offer"], batch["count"], batch["country"], batch["uses_per_code"]) == (offer["id"], 3, "DE", 2)
    assert batch["restricted_to"] is None
    assert a.get(f"/api/v1/platform/batches/{batch['id']}").json() == batch
    assert a.get(f"{OFFERS}/{offer['id']}/batches").json()["items"] == [batch]
    page = a.get(f"/api/v1/platform/batches/{batch['id']}/codes?page_size=2").json()
    assert (page["count"], len(page["items"])) == (3, 2)
    assert {row["status"] for row in page["items"]} == {"unused"}
    _, token = api_token_issue(user=learner)  # a learner redeems one of them as printed
    redeemed = Client().post("/api/v1/redemptions", {"code": page["items"][0]["code"], "session": "moodle-a-s1"},
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert redeemed.status_code == 201


def test_bad_input_is_422_naming_the_field(a: Caller) -> None:
    offer = a.post(OFFERS, OFFER).json()
    too_late = (datetime.now().astimezone() - timedelta(days=1)).isoformat()
    response = a.post(f"{OFFERS}/{offer['id']}/batches", {**BATCH, "expires_at": too_late})
    assert (response.status_code, response.json()["field"]) == (422, "expires_at")
    assert not Batch.objects.exists()


def test_a_platform_cannot_restrict_codes_to_a_user_of_tesseras(a: Caller, learner: User) -> None:
    offer = a.post(OFFERS, OFFER).json()
    created = a.post(f"{OFFERS}/{offer['id']}/batches", {**BATCH, "restricted_to": learner.username})
    assert (created.status_code, created.json()["restricted_to"]) == (201, None)


def test_an_archived_session_takes_no_new_offer(a: Caller) -> None:
    a.delete("/api/v1/platform/courses/c1/sessions/s1")
    response = a.post(OFFERS, OFFER)
    assert (response.status_code, response.json()["field"]) == (422, "session")


class TestTenancy:
    def test_another_platforms_offers_batches_and_sessions_are_not_found(self, a: Caller, b: Caller) -> None:
        offer = a.post(OFFERS, OFFER).json()
        batch = a.post(f"{OFFERS}/{offer['id']}/batches", BATCH).json()
        for url in (
            f"{OFFERS}/{offer['id']}",
            f"{OFFERS}/{offer['id']}/batches",
            f"/api/v1/platform/batches/{batch['id']}",
            f"/api/v1/platform/batches/{batch['id']}/codes",
        ):
            assert b.get(url).status_code == 404, url  # fmt: skip
        assert b.post(f"{OFFERS}/{offer['id']}/batches", BATCH).status_code == 404
        assert b.get(OFFERS).json() == {"items": [], "count": 0}
        assert Batch.objects.count() == 1

    def test_another_platforms_store_link_is_neither_seen_nor_set(self, a: Caller, b: Caller) -> None:
        offer = a.post(OFFERS, {**OFFER, "store_url": "https://shop.example/a"}).json()
        assert b.get(f"{OFFERS}/{offer['id']}").status_code == 404
        assert "https://shop.example/a" not in b.get(OFFERS).content.decode()
        b.put("/api/v1/platform/courses/c2", {"title": "Only B's"})
        b.put("/api/v1/platform/courses/c2/sessions/b-only", session_body(datetime.now().astimezone()))
        response = a.post(OFFERS, {**OFFER, "session": "b-only", "store_url": "https://shop.example/a-on-b"})
        assert response.status_code == 404
        assert list(Offer.objects.values_list("store_url", flat=True)) == ["https://shop.example/a"]

    def test_a_platform_cannot_create_offers_for_another_platforms_session(self, a: Caller, b: Caller) -> None:
        b.put("/api/v1/platform/courses/c2", {"title": "Only B's"})
        response = a.post(OFFERS, {**OFFER, "session": "nope"})
        assert response.status_code == 404
        b_only = b.put("/api/v1/platform/courses/c2/sessions/b-only", session_body(datetime.now().astimezone()))
        assert b_only.status_code == 201
        assert a.post(OFFERS, {**OFFER, "session": "b-only"}).status_code == 404
        assert not Offer.objects.exists()


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", OFFERS), ("get", OFFERS), ("get", f"{OFFERS}/1"), ("post", f"{OFFERS}/1/batches"),
     ("get", f"{OFFERS}/1/batches"), ("get", "/api/v1/platform/batches/1"),
     ("get", "/api/v1/platform/batches/1/codes"), ("post", "/api/v1/platform/batches/1/assignments"),
     ("get", "/api/v1/platform/batches/1/assignments"), ("post", "/api/v1/platform/assignments/1/resend")],
)  # fmt: skip
def test_every_route_needs_the_catalog_scope(
    client: Client, platform_a: Credentials, token_for: TokenFor, method: str, url: str
) -> None:
    caller = Caller(client, token_for(platform_a, "redeem"))
    body: dict[str, Any] = OFFER if url == OFFERS else BATCH
    if url.endswith("/assignments"):
        body = {"recipients": [{"email": "ada@example.org"}]}
    response = caller.post(url, body) if method == "post" else caller.get(url)
    assert (response.status_code, response.json()["scope"]) == (403, "catalog")
    assert not Offer.objects.exists()


class TestAssignments:
    """A platform sends codes of its own batches by email: to addresses, or to its learners at the
    addresses Tessera knows; another platform's batch and assignments are not found."""

    @pytest.fixture
    def batch(self, a: Caller) -> dict[str, Any]:
        offer = a.post(OFFERS, OFFER).json()
        return dict(a.post(f"{OFFERS}/{offer['id']}/batches", {**BATCH, "uses_per_code": 1}).json())

    def send(self, caller: Caller, batch: dict[str, Any], recipients: list[dict[str, str]], capture: Any) -> Any:
        with capture(execute=True):
            response = caller.post(f"/api/v1/platform/batches/{batch['id']}/assignments", {"recipients": recipients})
        if response.status_code == 202:
            send_job_run(job_id=response.json()["id"])
        return response

    def test_to_an_address_and_to_a_learner_at_the_address_tessera_knows(
        self,
        a: Caller,
        batch: dict[str, Any],
        platform_a: Credentials,
        inbox: Any,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        learner = platform_learner(platform=platform_a.platform, external_id="l-1")
        User.objects.filter(pk=learner.pk).update(email="lea@example.org")
        recipients = [{"email": "ada@example.org"}, {"learner": "l-1", "language": "de"}]
        response = self.send(a, batch, recipients, django_capture_on_commit_callbacks)
        assert (response.status_code, response.json()["total"]) == (202, 2)
        assert sorted(mail.to[0] for mail in inbox.received) == ["ada@example.org", "lea@example.org"]
        link = next(word for word in inbox.to("lea@example.org")[0].body.split() if word.startswith("https://"))
        assert "platform=moodle-a&session=s1&code=" in link
        rows = a.get(f"/api/v1/platform/batches/{batch['id']}/assignments").json()["items"]
        assert {(row["email"], row["state"]) for row in rows} == {
            ("ada@example.org", "sent"),
            ("lea@example.org", "sent"),
        }

    def test_a_learner_without_an_address_or_unknown_is_a_line_to_fix(
        self, a: Caller, batch: dict[str, Any], platform_a: Credentials, public_url: str,
        django_capture_on_commit_callbacks: Any,
    ) -> None:  # fmt: skip
        platform_learner(platform=platform_a.platform, external_id="l-1")  # no address
        recipients = [{"learner": "l-1"}, {"learner": "never-seen"}, {"email": "x@example.org", "learner": "l-1"}]
        response = self.send(a, batch, recipients, django_capture_on_commit_callbacks)
        assert (response.status_code, response.json()["error"]) == (422, "recipients_refused")
        assert [problem["line"] for problem in response.json()["problems"]] == [1, 2, 3]
        assert not Assignment.objects.exists()

    def test_another_platforms_batch_and_assignments_are_not_found(
        self, a: Caller, b: Caller, batch: dict[str, Any], inbox: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        self.send(a, batch, [{"email": "ada@example.org"}], django_capture_on_commit_callbacks)
        assignment = Assignment.objects.get()
        urls = f"/api/v1/platform/batches/{batch['id']}/assignments"
        assert b.get(urls).status_code == 404
        assert (
            self.send(b, batch, [{"email": "eve@example.org"}], django_capture_on_commit_callbacks).status_code == 404
        )
        assert b.post(f"{urls}/remind", {"days": 1}).status_code == 404
        assert b.post(f"{urls}/resend-failed", {}).status_code == 404
        assert b.post(f"/api/v1/platform/assignments/{assignment.pk}/resend", {}).status_code == 404
        assert b.post(f"/api/v1/platform/assignments/{assignment.pk}/withdraw", {}).status_code == 404
        assignment.refresh_from_db()
        assert (assignment.state, Assignment.objects.count(), len(inbox.received)) == ("sent", 1, 1)

    def test_its_own_assignment_is_resent_and_withdrawn(
        self, a: Caller, batch: dict[str, Any], inbox: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        self.send(a, batch, [{"email": "ada@example.org"}], django_capture_on_commit_callbacks)
        assignment = Assignment.objects.get()
        resent = a.post(f"/api/v1/platform/assignments/{assignment.pk}/resend", {})
        assert (resent.status_code, resent.json()["total"]) == (202, 1)
        Assignment.objects.update(job=None)  # as if the resend had gone out
        assert a.post(f"/api/v1/platform/batches/{batch['id']}/assignments/resend-failed", {}).status_code == 204
        assert a.post(f"/api/v1/platform/batches/{batch['id']}/assignments/remind", {"days": 1}).status_code == 204
        withdrawn = a.post(f"/api/v1/platform/assignments/{assignment.pk}/withdraw", {})
        assert (withdrawn.status_code, withdrawn.json()["assignment"]["state"], withdrawn.json()["job"]) == (
            200, "withdrawn", None,
        )  # fmt: skip
