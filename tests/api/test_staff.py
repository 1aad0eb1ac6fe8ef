"""The staff side of the platform API: offers, batches, codes, statistics, CSV, printable cards;
who gets in."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.api.services import api_token_issue
from tessera.vouchers import codes as codebook
from tessera.vouchers.models import Assignment, AuditEvent, Batch, Code, Offer, Redemption
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import send_job_run, voucher_redeem
from tests.api.conftest import post
from tests.conftest import FORMULA_TAG, clerk_with
from tests.mailserver import REFUSED
from tests.pdfs import pdf_pages, pdf_text, qr_codes_on_page


@pytest.fixture
def offer(enrollment_offer: Offer) -> Offer:
    return enrollment_offer


class TestOffers:
    def test_create_then_show(self, client, staff_api, running_session):
        body = {"name": "Seats", "product": "enrollment", "session": running_session.slug, "price": "49.00",
                "currency": "eur"}  # fmt: skip
        created = post(client, "/api/v1/offers", body, **staff_api.auth)
        assert created.status_code == 201, created.json()
        shown = client.get(f"/api/v1/offers/{created.json()['id']}", **staff_api.auth).json()
        assert (shown["name"], shown["session"], shown["course"], shown["currency"], shown["payment_mode"]) == (
            "Seats",
            "python-2026",
            "python",
            "EUR",
            "offline",
        )
        assert shown["price"] in ("49.00", 49.0)
        created_by = AuditEvent.objects.get(action=AuditEvent.Action.OFFER_CREATED)
        assert (created_by.actor, created_by.detail["offer_id"]) == (f"user:{staff_api.user.pk}", shown["id"])

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"name": "x", "product": "gold"}, "product"), ({"name": "", "product": "enrollment"}, "name"),
         ({"name": "x", "product": "enrollment", "session": "nope"}, "session"),
         ({"name": "x", "product": "proctoring", "price": "-1"}, "price"),
         ({"name": "x", "product": "enrollment", "currency": "EURO"}, "currency"),
         ({"name": "x", "product": "enrollment", "sale_starts_at": "2099-02-01T00:00:00Z",
           "sale_ends_at": "2099-01-01T00:00:00Z"}, "sale_ends_at"),
         ({"name": "x", "product": "reactivation", "session": "python-2026"}, "product")],
    )  # fmt: skip
    def test_bad_offers_are_422_and_nothing_is_made(self, client, staff_api, running_session, body, field):
        response = post(client, "/api/v1/offers", body, **staff_api.auth)
        answer = response.json()
        assert (response.status_code, answer["error"]) == (422, "invalid_input")
        # Tessera's own checks name the field; the schema's checks give pydantic's locations.
        located = answer["detail"] if isinstance(answer["detail"], list) else []
        named = {answer.get("field")} | {entry["loc"][-1] for entry in located}
        assert field in named, answer
        assert not Offer.objects.exists()

    def test_a_store_link_is_kept_and_shown(self, client, staff_api, running_session):
        body = {"name": "Seats", "product": "enrollment", "session": running_session.slug,
                "store_url": "https://shop.example/python"}  # fmt: skip
        created = post(client, "/api/v1/offers", body, **staff_api.auth)
        assert (created.status_code, created.json()["store_url"]) == (201, "https://shop.example/python")
        listed = client.get("/api/v1/offers", **staff_api.auth).json()["items"]
        assert [offer["store_url"] for offer in listed] == ["https://shop.example/python"]

    def test_an_offer_without_a_store_link_shows_it_empty(self, client, staff_api, offer):
        assert client.get(f"/api/v1/offers/{offer.pk}", **staff_api.auth).json()["store_url"] == ""

    @pytest.mark.parametrize("url", ["javascript:alert(1)", "/shop", "ftp://shop.example/x"])
    def test_a_bad_store_link_is_422_invalid_store_url_and_nothing_is_made(self, client, staff_api, url):
        response = post(client, "/api/v1/offers", {"name": "x", "product": "enrollment", "store_url": url},
                        **staff_api.auth)  # fmt: skip
        assert response.status_code == 422
        assert {key: response.json()[key] for key in ("error", "field")} == {
            "error": "invalid_store_url", "field": "store_url"
        }  # fmt: skip
        assert not Offer.objects.exists()

    def test_a_service_refusal_names_its_field(self, client, staff_api):
        response = post(client, "/api/v1/offers", {"name": "x", "product": "enrollment", "session": "nope"},
                         **staff_api.auth)  # fmt: skip
        assert response.json() == {
            "error": "invalid_input", "detail": "There is no course session 'nope'.", "field": "session"
        }  # fmt: skip

    def test_an_unknown_offer_is_404(self, client, staff_api):
        response = client.get("/api/v1/offers/999", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_the_list_pages(self, client, staff_api, make_offer, running_session):
        for _ in range(3):
            make_offer("enrollment", running_session)
        page = client.get("/api/v1/offers?page=2&page_size=2", **staff_api.auth).json()
        assert page["count"] == 3
        assert len(page["items"]) == 1


class TestBatches:
    def test_create_list_and_page_through_codes(self, client, staff_api, offer, other_learner):
        body = {"count": 3, "uses_per_code": 2, "tag": "spring", "country": "de", "restricted_to": "other_learner"}
        created = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert created.status_code == 201
        batch = created.json()
        shown = (batch["count"], batch["uses_per_code"], batch["country"], batch["restricted_to"], batch["created_by"])
        assert shown == (3, 2, "DE", "other_learner", "staff")
        listed = client.get(f"/api/v1/offers/{offer.pk}/batches", **staff_api.auth).json()
        assert [b["id"] for b in listed["items"]] == [batch["id"]]
        codes = client.get(f"/api/v1/batches/{batch['id']}/codes?page_size=2", **staff_api.auth).json()
        assert codes["count"] == 3
        assert [(c["uses"], c["max_uses"], c["status"]) for c in codes["items"]] == [(0, 2, "unused")] * 2
        stored = {display_code(c) for c in Code.objects.values_list("code", flat=True)}
        assert {c["code"] for c in codes["items"]} <= stored

    @pytest.mark.parametrize(
        "body",
        [{"count": 0}, {"count": 100_001}, {"count": 2, "uses_per_code": 0}, {"count": 2, "country": "Germany"},
         {"count": 2, "country": "XX"}, {"count": 2, "country": None}, {"count": 2, "restricted_to": "nobody"},
         {"count": "many"}, {"count": 2, "expires_at": "soon"}, {"count": 2, "expires_at": "2001-01-01T00:00:00Z"}],
    )  # fmt: skip
    def test_bad_batches_are_422_and_nothing_is_made(self, client, staff_api, offer, body):
        body = {"country": "DE", **body}  # every body is good but for the one field it names
        response = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Batch.objects.exists()
        assert not Code.objects.exists()

    def test_revoking_a_batch_revokes_its_codes(self, client, staff_api, offer, make_batch):
        batch = make_batch(offer, count=4)
        response = client.post(f"/api/v1/batches/{batch.pk}/revoke", **staff_api.auth)
        assert response.status_code == 200
        assert response.json()["revoked_at"]
        assert Code.objects.filter(revoked_at__isnull=True).count() == 0

    def test_the_csv_export_streams_one_row_per_code(self, client, staff_api, offer, make_batch, learner,
                                                     running_session):  # fmt: skip
        batch = make_batch(offer, count=3)
        first = batch.codes.order_by("code").first()
        voucher_redeem(code=first.code, user=learner, session=running_session)
        response = client.get(f"/api/v1/batches/{batch.pk}/export.csv", **staff_api.auth)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == 3
        assert {row["redeemed_by"] for row in rows} == {"learner", ""}
        offer_rows = client.get(f"/api/v1/offers/{offer.pk}/export.csv", **staff_api.auth)
        assert len(list(csv.reader(io.StringIO(b"".join(offer_rows.streaming_content).decode())))) == 4

    @pytest.mark.parametrize("export", ["batches/{batch}", "offers/{offer}"])
    def test_a_shops_formula_tag_is_exported_as_text(self, client, staff_api, formula_batch, export):
        url = "/api/v1/" + export.format(batch=formula_batch.pk, offer=formula_batch.offer_id) + "/export.csv"
        response = client.get(url, **staff_api.auth)
        [row] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
        assert row["tag"] == "'" + FORMULA_TAG

    def test_an_unknown_batch_is_404_everywhere(self, client, staff_api):
        for url in ("/api/v1/batches/77", "/api/v1/batches/77/codes", "/api/v1/batches/77/export.csv"):
            response = client.get(url, **staff_api.auth)
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), url


class TestImports:
    def test_a_list_of_codes_becomes_an_imported_batch(self, client, staff_api, offer, learner, running_session):
        body = {"codes": ["summer-01", "SUMMER 02"], "uses_per_code": 2, "tag": "reseller", "country": "at",
                "source": "reseller.csv"}  # fmt: skip
        response = post(client, f"/api/v1/offers/{offer.pk}/imports", body, **staff_api.auth)
        assert response.status_code == 201, response.json()
        answer = response.json()
        assert (answer["imported"], answer["count"], answer["uses_per_code"], answer["country"]) == (True, 2, 2, "AT")
        batch = Batch.objects.get(pk=answer["id"])
        assert sorted(batch.codes.values_list("code", flat=True)) == ["SUMMER01", "SUMMER02"]
        audit = AuditEvent.objects.get(action=AuditEvent.Action.IMPORTED)
        assert (audit.actor, audit.detail) == (staff_api.user.username, {"count": 2, "source": "reseller.csv"})
        voucher_redeem(code="Summer-01", user=learner, session=running_session)
        codes = client.get(f"/api/v1/batches/{batch.pk}/codes", **staff_api.auth).json()["items"]
        assert [(c["code"], c["uses"]) for c in codes] == [("SUMMER01", 1), ("SUMMER02", 0)]
        shown = client.get("/api/v1/codes/summer01", **staff_api.auth).json()
        assert (shown["code"], shown["status"]) == ("SUMMER01", "partly_redeemed")

    def test_lines_to_fix_are_422_with_each_named_and_nothing_is_imported(self, client, staff_api, offer, make_batch):
        generated = make_batch(offer)
        ours = generated.codes.get().code
        body = {"codes": ["SUMMER-01", "summer_02", "summer01", ours], "country": "DE"}
        response = post(client, f"/api/v1/offers/{offer.pk}/imports", body, **staff_api.auth)
        answer = response.json()
        assert (response.status_code, answer["error"], answer["field"], answer["problem_count"]) == (
            422, "codes_refused", "codes", 3,
        )  # fmt: skip
        assert [(p["line"], p["code"]) for p in answer["problems"]] == [(2, "summer_02"), (3, "summer01"), (4, ours)]
        assert answer["problems"][1]["problem"] == "the same code as line 1"
        assert answer["problems"][2]["problem"] == f"already a code, of batch {generated.pk}"
        assert answer["detail"].startswith("3 lines need fixing in api; nothing was imported.")
        assert Batch.objects.count() == 1

    def test_an_empty_list_is_422(self, client, staff_api, offer):
        response = post(client, f"/api/v1/offers/{offer.pk}/imports", {"codes": [], "country": "DE"}, **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Batch.objects.exists()

    def test_an_unknown_offer_is_404(self, client, staff_api):
        response = post(client, "/api/v1/offers/999/imports", {"codes": ["SUMMER-01"], "country": "DE"},
                        **staff_api.auth)  # fmt: skip
        assert (response.status_code, response.json()["error"]) == (404, "not_found")

    def test_a_learner_is_403_and_nothing_is_imported(self, client, learner_api, offer):
        body = {"codes": ["SUMMER-01"], "country": "DE"}
        response = post(client, f"/api/v1/offers/{offer.pk}/imports", body, **learner_api.auth)
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
        assert not Batch.objects.exists()

    def test_the_import_is_in_the_openapi_document(self, client):
        document = client.get("/api/v1/openapi.json").json()
        operation = document["paths"]["/api/v1/offers/{offer_id}/imports"]["post"]
        assert "201" in operation["responses"]


class TestBatchCards:
    @pytest.fixture(autouse=True)
    def public_url(self, settings):
        settings.TESSERA_PUBLIC_URL = "https://tessera.example"

    def test_a_pdf_of_the_batchs_codes_each_qr_code_its_redeem_link(self, client, staff_api, offer, make_batch):
        batch = make_batch(offer, count=10)
        response = client.get(f"/api/v1/batches/{batch.pk}/cards.pdf", **staff_api.auth)
        assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
        assert response.streaming
        pdf = response.getvalue()
        codes = [display_code(code) for code in sorted(batch.codes.values_list("code", flat=True))]
        assert pdf_pages(pdf) == 1
        assert all(code in pdf_text(pdf) for code in codes)
        links = [f"https://tessera.example/redeem?session=python-2026&code={code}" for code in codes]
        assert qr_codes_on_page(pdf) == links

    def test_unused_leaves_out_the_used_codes(self, client, staff_api, offer, make_batch, learner, running_session):
        batch = make_batch(offer, count=3)
        used = batch.codes.order_by("code").first()
        voucher_redeem(code=used.code, user=learner, session=running_session)
        response = client.get(f"/api/v1/batches/{batch.pk}/cards.pdf?uses=unused", **staff_api.auth)
        text = pdf_text(response.getvalue())
        assert display_code(used.code) not in text
        assert sum(display_code(code) in text for code in batch.codes.values_list("code", flat=True)) == 2

    def test_a_selection_it_does_not_know_is_422(self, client, staff_api, offer, make_batch):
        batch = make_batch(offer)
        response = client.get(f"/api/v1/batches/{batch.pk}/cards.pdf?uses=used", **staff_api.auth)
        assert response.status_code == 422

    def test_staff_without_the_voucher_permission_are_forbidden(self, client, offer, make_batch):
        batch = make_batch(offer)
        _, token = api_token_issue(user=clerk_with("view_batch", "view_code"), label="tests")
        response = client.get(f"/api/v1/batches/{batch.pk}/cards.pdf", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")

    def test_an_unknown_batch_is_404(self, client, staff_api):
        response = client.get("/api/v1/batches/77/cards.pdf", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")


class TestCodesAndRedemptions:
    def test_query_a_code_tells_who_when_where(self, client, staff_api, offer, make_code, learner, running_session):
        code = make_code(offer)
        voucher_redeem(code=code, user=learner, session=running_session, client_ip="198.51.100.7")
        shown = client.get(f"/api/v1/codes/{code.lower()}", **staff_api.auth).json()
        assert (shown["code"], shown["status"], shown["uses"]) == (code, "redeemed", 1)
        [redemption] = shown["redemptions"]
        assert (redemption["user"], redemption["session"], redemption["course"], redemption["client_ip"]) == (
            "learner",
            "python-2026",
            "python",
            "198.51.100.7",
        )

    def test_revoke_a_code(self, client, staff_api, offer, make_code):
        code = make_code(offer)
        response = client.post(f"/api/v1/codes/{code}/revoke", **staff_api.auth)
        assert (response.status_code, response.json()["status"]) == (200, "revoked")
        assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED, actor="staff").exists()

    def test_reverse_a_redemption_then_again_is_409(self, client, staff_api, offer, make_code, learner,
                                                    running_session):  # fmt: skip
        code = make_code(offer)
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        url = f"/api/v1/redemptions/{redemption.pk}/reverse"
        first = post(client, url, {"give_back_use": True}, **staff_api.auth)
        assert (first.status_code, first.json()["uses"]) == (200, 0)
        assert Redemption.objects.get().reversed_by == "staff"
        again = post(client, url, {}, **staff_api.auth)
        assert (again.status_code, again.json()["error"]) == (409, "already_reversed")

    @pytest.mark.parametrize("content_type", ["application/octet-stream", "application/json"])
    def test_a_reverse_needs_no_body(self, client, staff_api, offer, make_code, learner, running_session,
                                     content_type):  # fmt: skip
        code = make_code(offer)
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        url = f"/api/v1/redemptions/{redemption.pk}/reverse"
        response = client.generic("POST", url, b"", content_type, **staff_api.auth)
        assert (response.status_code, response.json()["uses"]) == (200, 0)  # the default policy returns the use
        assert Redemption.objects.get().reversed_by == "staff"

    @pytest.mark.parametrize("body", [b"[1]", b"1", b'"yes"', b"{"])
    def test_a_body_that_is_no_object_is_invalid_input_and_reverses_nothing(
        self, client, staff_api, offer, make_code, learner, running_session, body
    ):
        code = make_code(offer)
        redemption = voucher_redeem(code=code, user=learner, session=running_session)
        url = f"/api/v1/redemptions/{redemption.pk}/reverse"
        response = client.generic("POST", url, body, "application/json", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert Redemption.objects.get().reversed_at is None

    def test_an_unknown_code_is_404_and_a_typo_409(self, client, staff_api, offer, make_code):
        code = make_code(offer)
        unknown = codebook.generate(1)[0]  # well formed, check symbol and all, but never issued
        response = client.get(f"/api/v1/codes/{unknown}", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        typo = ("B" if code[0] == "A" else "A") + code[1:]
        response = client.get(f"/api/v1/codes/{typo}", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (409, "mistyped")
        assert client.get("/api/v1/redemptions/5/reverse", **staff_api.auth).status_code == 405


class TestAssessments:
    def test_create_an_assessment_offer_then_show_it(self, client, staff_api, assessment):
        body = {"name": "Retake", "product": "assessment", "assessment": "python-exam", "attempts": 1,
                "adds_attempts": True}  # fmt: skip
        created = post(client, "/api/v1/offers", body, **staff_api.auth)
        assert created.status_code == 201, created.json()
        shown = client.get(f"/api/v1/offers/{created.json()['id']}", **staff_api.auth).json()
        assert (shown["session"], shown["assessment"], shown["course"], shown["attempts"], shown["adds_attempts"]) == (
            None,
            "python-exam",
            "python",
            1,
            True,
        )

    @pytest.mark.parametrize(
        ("body", "error", "field"),
        [({"assessment": "nope"}, "invalid_input", "assessment"),
         ({}, "offer_place_mismatch", "assessment"),
         ({"assessment": "python-exam", "session": "python-2026"}, "offer_place_mismatch", "assessment"),
         ({"assessment": "python-exam", "attempts": 9}, "invalid_input", "attempts")],
    )  # fmt: skip
    def test_a_bad_assessment_offer_is_422_and_nothing_is_made(self, client, staff_api, assessment, running_session,
                                                               body, error, field):  # fmt: skip
        response = post(client, "/api/v1/offers", {"name": "x", "product": "assessment", **body}, **staff_api.auth)
        assert (response.status_code, response.json()["error"], response.json()["field"]) == (422, error, field)
        assert not Offer.objects.exists()

    def test_query_an_assessment_code_names_the_assessment(self, client, staff_api, assessment_offer, make_code,
                                                           learner, assessment):  # fmt: skip
        code = make_code(assessment_offer)
        voucher_redeem(code=code, user=learner, assessment=assessment)
        [redemption] = client.get(f"/api/v1/codes/{code}", **staff_api.auth).json()["redemptions"]
        assert (redemption["session"], redemption["course"], redemption["assessment"]) == (
            None,
            "python",
            "python-exam",
        )


class TestStats:
    def test_issued_and_redeemed_by_product(self, client, staff_api, offer, make_batch, learner, running_session):
        batch = make_batch(offer, count=4)
        voucher_redeem(code=batch.codes.first().code, user=learner, session=running_session)
        rows = client.get("/api/v1/stats?by=product", **staff_api.auth).json()
        assert rows == [{"key": "enrollment", "issued": 4, "redeemed": 1, "percent": 25.0, "uses": 1, "max_uses": 4}]

    def test_an_unknown_dimension_is_422(self, client, staff_api):
        response = client.get("/api/v1/stats?by=colour", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")


class TestWhatTheDatabaseCannotStore:
    """Refused at the edge as invalid_input, never a server error on either database."""

    @pytest.mark.parametrize(
        "body",
        [{"name": "Seats\x00", "product": "enrollment"},
         {"name": "Seats", "product": "enrollment", "session": "python\x002026"},
         {"name": "Seats", "product": "enrollment", "sale_starts_at": "9999-12-31T23:59:59-23:59"}],
    )  # fmt: skip
    def test_offers(self, client, staff_api, running_session, body):
        response = post(client, "/api/v1/offers", body, **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Offer.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [{"count": 1, "tag": "spring\x00"}, {"count": 1, "restricted_to": "learner\x00"},
         {"count": 1, "expires_at": "9999-12-31T23:59:59-23:59"}, {"count": 1, "expires_at": "9999-12-31"}],
    )  # fmt: skip
    def test_batches(self, client, staff_api, offer, body):
        body = {"country": "DE", **body}
        response = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Batch.objects.exists()

    @pytest.mark.parametrize(
        "raw",
        ['{"count": 1, "country": "DE", "tag": "\\ud800"}', '{"tag":' * 1000 + "1" + "}" * 1000,
         "[" * 1000 + "]" * 1000],
        ids=["lone surrogate", "nested object", "nested array"],
    )  # fmt: skip
    @pytest.mark.parametrize("url", ["/api/v1/offers", "/api/v1/offers/{offer}/batches"])
    def test_hostile_json(self, client, staff_api, offer, raw, url):
        response = client.post(url.format(offer=offer.pk), raw, content_type="application/json", **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert Offer.objects.count() == 1
        assert not Batch.objects.exists()

    def test_an_expiry_with_an_offset_is_stored_in_utc(self, client, staff_api, offer):
        body = {"count": 1, "country": "DE", "expires_at": "2099-06-30T23:30:00-14:00"}
        response = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert response.status_code == 201, response.json()
        assert Batch.objects.get().expires_at.isoformat() == "2099-07-01T13:30:00+00:00"


class TestBareDates:
    """A bare date means the end of that day (UTC), as it does on the command line."""

    def test_a_batch_expiring_on_a_date_is_good_all_of_that_day(self, client, staff_api, offer):
        body = {"count": 1, "country": "DE", "expires_at": "2099-01-01"}
        response = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert response.status_code == 201, response.json()
        assert Batch.objects.get().expires_at.isoformat() == "2099-01-02T00:00:00+00:00"
        assert response.json()["expires_at"].startswith("2099-01-02T00:00:00")

    def test_an_offers_sale_window_dates_end_their_days(self, client, staff_api, running_session):
        body = {"name": "Seats", "product": "enrollment", "sale_starts_at": "2099-01-01", "sale_ends_at": "2099-03-31"}
        assert post(client, "/api/v1/offers", body, **staff_api.auth).status_code == 201
        offer = Offer.objects.get()
        assert offer.sale_starts_at.isoformat() == "2099-01-02T00:00:00+00:00"
        assert offer.sale_ends_at.isoformat() == "2099-04-01T00:00:00+00:00"

    @pytest.mark.parametrize("value", ["2099-13-01", "2099-02-30", "tomorrow!!"])
    def test_a_date_that_is_no_date_is_422(self, client, staff_api, offer, value):
        body = {"count": 1, "country": "DE", "expires_at": value}
        response = post(client, f"/api/v1/offers/{offer.pk}/batches", body, **staff_api.auth)
        assert (response.status_code, response.json()["error"]) == (422, "invalid_input")
        assert not Batch.objects.exists()


class TestAssignments:
    """Codes sent to recipients: the mails go to a real SMTP server (the inbox fixture)."""

    @pytest.fixture
    def batch(self, offer, make_batch):
        return make_batch(offer, count=3)

    def send(self, client, staff_api, batch, *recipients, capture):
        body = {"recipients": [{"email": email} if isinstance(email, str) else email for email in recipients]}
        with capture(execute=True):
            response = post(client, f"/api/v1/batches/{batch.pk}/assignments", body, **staff_api.auth)
        if response.status_code == 202:
            send_job_run(job_id=response.json()["id"])
        return response

    def test_send_then_list_with_to_whom_state_and_redeemed(
        self, client, staff_api, batch, inbox, django_capture_on_commit_callbacks, learner, running_session
    ):
        response = self.send(
            client, staff_api, batch, {"email": "ada@example.org", "name": "Ada", "language": "de"}, REFUSED,
            capture=django_capture_on_commit_callbacks,
        )  # fmt: skip
        assert response.status_code == 202, response.content
        assert (response.json()["total"], response.json()["status"]) == (2, "queued")
        job = client.get(f"/api/v1/mail-jobs/{response.json()['id']}", **staff_api.auth).json()
        assert (job["status"], job["sent"], job["failed"]) == ("done", 1, 1)
        ada = Assignment.objects.get(email="ada@example.org")
        voucher_redeem(code=ada.code_id, user=learner, session=running_session)
        rows = client.get(f"/api/v1/batches/{batch.pk}/assignments", **staff_api.auth).json()["items"]
        assert [(row["email"], row["state"], row["redeemed"], row["language"]) for row in rows] == [
            (REFUSED, "failed", False, ""), ("ada@example.org", "sent", True, "de"),
        ]  # fmt: skip
        assert "550" in rows[0]["last_error"]
        assert inbox.to("ada@example.org")[0].message["Content-Language"] == "de"

    def test_a_bad_recipient_is_422_with_its_place_and_nothing_is_assigned(
        self, client, staff_api, batch, public_url, django_capture_on_commit_callbacks
    ):
        response = self.send(
            client, staff_api, batch, "ada@example.org", "nope", "ADA@example.org",
            capture=django_capture_on_commit_callbacks,
        )  # fmt: skip
        assert response.status_code == 422
        body = response.json()
        assert (body["error"], body["problem_count"]) == ("recipients_refused", 2)
        assert body["problems"] == [
            {"line": 2, "email": "nope", "problem": "not an email address"},
            {"line": 3, "email": "ADA@example.org", "problem": "given twice: first on line 1"},
        ]
        assert not Assignment.objects.exists()

    def test_more_recipients_than_codes_is_409(
        self, client, staff_api, batch, public_url, django_capture_on_commit_callbacks
    ):
        response = self.send(
            client,
            staff_api,
            batch,
            *(f"p{n}@example.org" for n in range(4)),
            capture=django_capture_on_commit_callbacks,
        )
        assert (response.status_code, response.json()["error"]) == (409, "not_enough_codes")

    def test_resend_remind_and_withdraw(self, client, staff_api, batch, inbox, django_capture_on_commit_callbacks):
        self.send(client, staff_api, batch, "ada@example.org", REFUSED, capture=django_capture_on_commit_callbacks)
        inbox.refuse.clear()
        url = f"/api/v1/batches/{batch.pk}/assignments"
        resent = post(client, f"{url}/resend-failed", {}, **staff_api.auth)
        assert (resent.status_code, resent.json()["total"]) == (202, 1)
        send_job_run(job_id=resent.json()["id"])
        assert post(client, f"{url}/resend-failed", {}, **staff_api.auth).status_code == 204
        assert post(client, f"{url}/remind", {"days": 3}, **staff_api.auth).status_code == 204  # nobody due yet
        Assignment.objects.update(sent_at=timezone.now() - timedelta(days=4))
        reminded = post(client, f"{url}/remind", {"days": 3}, **staff_api.auth)
        assert (reminded.status_code, reminded.json()["kind"], reminded.json()["total"]) == (202, "remind", 2)
        ada = Assignment.objects.get(email="ada@example.org")
        one = post(client, f"/api/v1/assignments/{ada.pk}/resend", {}, **staff_api.auth)
        assert (one.status_code, one.json()["error"]) == (409, "not_resendable")  # a reminder is on its way
        withdrawn = post(
            client, f"/api/v1/assignments/{ada.pk}/withdraw", {"replacement": {"email": "bob@example.org"}},
            **staff_api.auth,
        )  # fmt: skip
        assert withdrawn.status_code == 200, withdrawn.content
        assert (withdrawn.json()["assignment"]["state"], withdrawn.json()["job"]["total"]) == ("withdrawn", 1)
        assert Code.objects.get(pk=ada.code_id).revoked_at is not None
        again = post(client, f"/api/v1/assignments/{ada.pk}/withdraw", {}, **staff_api.auth)
        assert (again.status_code, again.json()["error"]) == (409, "already_withdrawn")

    def test_staff_without_the_voucher_permission_are_forbidden_and_nothing_is_assigned(
        self, client, batch, public_url
    ):
        _, token = api_token_issue(user=clerk_with("view_batch", "view_code"), label="tests")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        response = post(
            client, f"/api/v1/batches/{batch.pk}/assignments", {"recipients": [{"email": "a@x.org"}]}, **auth
        )
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
        assert client.get(f"/api/v1/batches/{batch.pk}/assignments", **auth).status_code == 403
        assert not Assignment.objects.exists()

    def test_a_learner_is_forbidden(self, client, learner_api, batch):
        response = client.get(f"/api/v1/batches/{batch.pk}/assignments", **learner_api.auth)
        assert response.status_code == 403

    def test_unknown_batches_assignments_and_jobs_are_404(self, client, staff_api):
        for url in ("/api/v1/batches/77/assignments", "/api/v1/mail-jobs/77"):
            assert client.get(url, **staff_api.auth).status_code == 404
        assert post(client, "/api/v1/assignments/77/resend", {}, **staff_api.auth).status_code == 404
