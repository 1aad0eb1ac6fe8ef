"""Tests for tessera.vouchers.admin: what staff see and do, and what everyone else cannot."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tessera.catalog.models import Enrollment
from tessera.core.errors import DomainError
from tessera.vouchers.admin import OfferAdmin
from tessera.vouchers.errors import OfferFrozen
from tessera.vouchers.models import Assignment, AuditEvent, Code, MessageTemplate, Offer, Redemption
from tessera.vouchers.permissions import MANAGE_VOUCHERS_CODENAME
from tessera.vouchers.services import (
    BatchSpec,
    CodeList,
    codes_import,
    redemption_reverse,
    template_save,
    voucher_redeem,
)
from tests.auditing import audited
from tests.conftest import clerk_with

CHANGELISTS = ["offer", "batch", "code", "redemption", "auditevent"]


def changelist(model: str) -> str:
    return reverse(f"admin:vouchers_{model}_changelist")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


class TestChangelists:
    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_staff_can_open_every_changelist(self, staff_client, enrollment_offer, make_batch, model):
        make_batch(enrollment_offer, count=3)
        response = staff_client.get(changelist(model))
        assert response.status_code == 200

    def test_the_code_changelist_lists_codes(self, staff_client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        content = staff_client.get(changelist("code")).content.decode()
        assert all(code in content for code in batch.codes.values_list("code", flat=True))

    def test_code_search_finds_the_exact_code_only(self, staff_client, enrollment_offer, make_batch):
        wanted, other = make_batch(enrollment_offer, count=2).codes.order_by("code")
        response = staff_client.get(changelist("code"), {"q": wanted.code})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [wanted]
        assert other.code not in response.content.decode()

    def test_code_search_does_not_match_part_of_a_code(self, staff_client, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=1).codes.get()
        response = staff_client.get(changelist("code"), {"q": code.code[:8]})
        assert list(response.context["cl"].result_list) == []


class TestActions:
    def test_the_revoke_action_revokes_the_selected_codes(self, staff_client, staff, enrollment_offer, make_batch):
        chosen, spared = make_batch(enrollment_offer, count=2).codes.order_by("code")
        response = staff_client.post(
            changelist("code"), {"action": "revoke_codes", "_selected_action": [chosen.pk]}, follow=True
        )
        assert response.status_code == 200
        assert "Revoked 1 codes." in messages_of(response)
        chosen.refresh_from_db()
        spared.refresh_from_db()
        assert chosen.revoked_at is not None
        assert spared.revoked_at is None
        event = AuditEvent.objects.get(action=AuditEvent.Action.REVOKED)
        assert (event.actor, event.code) == (f"user:{staff.pk}", chosen.code)

    def test_the_revoke_action_revokes_whole_batches(self, staff_client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=3)
        other = make_batch(enrollment_offer, count=2)
        response = staff_client.post(
            changelist("batch"), {"action": "revoke_batches", "_selected_action": [batch.pk]}, follow=True
        )
        assert "Revoked 1 batches." in messages_of(response)
        assert not batch.codes.filter(revoked_at__isnull=True).exists()
        assert not other.codes.filter(revoked_at__isnull=False).exists()

    def test_the_reverse_action_reverses_the_selected_redemptions(
        self, staff_client, staff, enrollment_offer, make_code, learner, running_session
    ):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        response = staff_client.post(
            changelist("redemption"),
            {"action": "reverse_redemptions", "_selected_action": [redemption.pk]},
            follow=True,
        )
        assert "Reversed 1 redemptions." in messages_of(response)
        redemption.refresh_from_db()
        assert redemption.reversed_at is not None
        assert redemption.reversed_by == f"user:{staff.pk}"
        assert not Enrollment.objects.get(user=learner, session=running_session).active
        assert Code.objects.get(pk=redemption.code_id).uses == 0

    def test_a_refused_reversal_is_reported_and_not_counted(
        self, staff_client, enrollment_offer, make_code, learner, running_session
    ):
        redemption = voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        redemption_reverse(redemption=redemption, actor="cli")
        response = staff_client.post(
            changelist("redemption"),
            {"action": "reverse_redemptions", "_selected_action": [redemption.pk]},
            follow=True,
        )
        shown = messages_of(response)
        assert "Reversed 0 redemptions." in shown
        assert any("already been reversed" in message for message in shown)
        assert Redemption.objects.get().reversed_by == "cli"


class TestAccess:
    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_a_learner_is_sent_to_the_admin_login(self, client, learner, model):
        client.force_login(learner)
        response = client.get(changelist(model))
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('admin:login')}?next={changelist(model)}"

    def test_an_anonymous_visitor_is_sent_to_the_admin_login(self, client, db):
        response = client.get(changelist("code"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))

    def test_a_learner_cannot_run_the_revoke_action(self, client, learner, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=1).codes.get()
        client.force_login(learner)
        response = client.post(changelist("code"), {"action": "revoke_codes", "_selected_action": [code.pk]})
        assert response.status_code == 302
        code.refresh_from_db()
        assert code.revoked_at is None


class TestActionsNeedTheManageVouchersPermission:
    """The same permission as revoking and reversing on the staff pages and the staff API."""

    def test_with_it_a_clerk_who_may_view_codes_revokes_one(self, client, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=1).codes.get()
        client.force_login(clerk_with("view_code", MANAGE_VOUCHERS_CODENAME))
        client.post(changelist("code"), {"action": "revoke_codes", "_selected_action": [code.pk]})
        code.refresh_from_db()
        assert code.revoked_at is not None

    def test_the_change_permission_alone_is_not_enough(self, client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1)
        client.force_login(clerk_with("view_batch", "change_batch", "view_code", "change_code"))
        assert client.get(changelist("batch")).context["action_form"] is None
        client.post(changelist("batch"), {"action": "revoke_batches", "_selected_action": [batch.pk]})
        client.post(changelist("code"), {"action": "revoke_codes", "_selected_action": [batch.codes.get().pk]})
        assert not batch.codes.filter(revoked_at__isnull=False).exists()
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).exists()


class TestVouchersOff:
    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_voucher_pages_answer_not_found(self, staff_client, settings, model):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert staff_client.get(changelist(model)).status_code == 404

    def test_the_vouchers_app_index_answers_not_found(self, staff_client, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert staff_client.get(reverse("admin:app_list", args=["vouchers"])).status_code == 404

    def test_the_catalog_stays_open(self, staff_client, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert staff_client.get(reverse("admin:catalog_course_changelist")).status_code == 200
        assert staff_client.get(reverse("admin:index")).status_code == 200

    def test_actions_cannot_run(self, staff_client, settings, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=1).codes.get()
        settings.TESSERA_VOUCHERS_ENABLED = False
        response = staff_client.post(changelist("code"), {"action": "revoke_codes", "_selected_action": [code.pk]})
        assert response.status_code == 404
        code.refresh_from_db()
        assert code.revoked_at is None


@pytest.fixture
def audit_event(enrollment_offer, make_batch) -> AuditEvent:
    make_batch(enrollment_offer, count=1)
    return AuditEvent.objects.get(action=AuditEvent.Action.CREATED)


class TestAuditLogAdmin:
    def test_no_add_change_or_delete_permission_even_for_a_superuser(self, staff, audit_event):
        request = RequestFactory().get("/admin/")
        request.user = staff
        model_admin = admin.site._registry[AuditEvent]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, audit_event)
        assert not model_admin.has_delete_permission(request, audit_event)
        assert model_admin.has_view_permission(request, audit_event)

    def test_the_add_page_is_forbidden(self, staff_client, db):
        assert staff_client.get(reverse("admin:vouchers_auditevent_add")).status_code == 403

    def test_an_event_can_be_viewed_but_a_change_is_forbidden(self, staff_client, audit_event):
        url = reverse("admin:vouchers_auditevent_change", args=[audit_event.pk])
        assert staff_client.get(url).status_code == 200
        response = staff_client.post(url, {"actor": "someone else", "action": "refused", "code": "X"})
        assert response.status_code == 403
        assert AuditEvent.objects.get(pk=audit_event.pk).actor == audit_event.actor

    def test_the_delete_page_is_forbidden(self, staff_client, audit_event):
        url = reverse("admin:vouchers_auditevent_delete", args=[audit_event.pk])
        assert staff_client.get(url).status_code == 403
        assert staff_client.post(url, {"post": "yes"}).status_code == 403
        assert AuditEvent.objects.filter(pk=audit_event.pk).exists()

    def test_the_changelist_offers_no_bulk_delete(self, staff_client, audit_event):
        response = staff_client.get(changelist("auditevent"))
        assert response.context["action_form"] is None  # no action at all, delete_selected included
        staff_client.post(changelist("auditevent"), {"action": "delete_selected", "_selected_action": [audit_event.pk]})
        assert AuditEvent.objects.filter(pk=audit_event.pk).exists()


class TestOfferForm:
    """The admin's offer form applies the same rules as offer_create."""

    def _post(self, client, session, product):
        return client.post(
            "/admin/vouchers/offer/add/",
            {
                "name": "Certificates",
                "product": product,
                "session": session.pk,
                "price": "10.00",
                "currency": "EUR",
                "payment_mode": "offline",
                "auto_subscribe": "on",
            },
        )

    def test_a_product_the_session_does_not_offer_is_refused(self, client, staff, ended_session):
        client.force_login(staff)
        response = self._post(client, ended_session, "proctoring")
        assert response.status_code == 200
        assert "does not offer proctoring" in response.content.decode()
        assert not Offer.objects.exists()

    def test_a_valid_offer_is_saved(self, client, staff, running_session):
        client.force_login(staff)
        response = self._post(client, running_session, "proctoring")
        assert response.status_code == 302
        assert Offer.objects.get().product == "proctoring"


def offer_fields(offer: Offer, **changes: str) -> dict[str, str]:
    fields = {
        "name": offer.name, "product": offer.product, "session": str(offer.session_id or ""), "price": str(offer.price),
        "currency": offer.currency, "payment_mode": offer.payment_mode, "auto_subscribe": "on",
        "store_url": offer.store_url,
    }  # fmt: skip
    return {**fields, **changes}


class TestOfferAdminWritesTheAuditLog:
    def test_adding_editing_and_deleting_an_offer_are_each_one_row_under_the_users_id(
        self, staff_client, staff, running_session
    ):
        with audited() as rows:
            staff_client.post("/admin/vouchers/offer/add/", offer_fields(Offer(
                name="Certificates", product="proctoring", session=running_session, price=10, currency="EUR",
            )))  # fmt: skip
            offer = Offer.objects.get()
            change = f"/admin/vouchers/offer/{offer.pk}/change/"
            staff_client.post(change, offer_fields(offer, name="Certificates, spring", price="12.50"))
            staff_client.post(change, offer_fields(Offer.objects.get()))  # nothing edited: nothing logged
            staff_client.post(f"/admin/vouchers/offer/{offer.pk}/delete/", {"post": "yes"})
        assert not Offer.objects.exists()
        actor = f"user:{staff.pk}"
        assert [(row.action, row.actor, row.detail["offer_id"]) for row in rows] == [
            (AuditEvent.Action.OFFER_CREATED, actor, offer.pk), (AuditEvent.Action.OFFER_CHANGED, actor, offer.pk),
            (AuditEvent.Action.OFFER_DELETED, actor, offer.pk),
        ]  # fmt: skip
        assert rows[1].detail["changed"] == ["name", "price"]

    def test_an_offer_with_codes_is_not_deleted_and_nothing_is_logged(self, staff_client, enrollment_offer, make_batch):
        make_batch(enrollment_offer)
        with audited() as rows:
            staff_client.post(f"/admin/vouchers/offer/{enrollment_offer.pk}/delete/", {"post": "yes"})
            staff_client.post(
                changelist("offer"),
                {"action": "delete_selected", "_selected_action": [enrollment_offer.pk], "post": "yes"},
            )
        assert rows == []
        assert Offer.objects.filter(pk=enrollment_offer.pk).exists()


class TestAnOfferWithCodesKeepsItsStoreLinkEditable:
    """The store link and price are for learners without a code; no issued code depends on them."""

    def test_the_store_link_and_price_change_and_the_change_is_logged(self, staff_client, enrollment_offer, make_batch):
        make_batch(enrollment_offer)
        change = f"/admin/vouchers/offer/{enrollment_offer.pk}/change/"
        assert 'name="store_url"' in staff_client.get(change).content.decode()
        with audited() as rows:
            edited = offer_fields(enrollment_offer, store_url="https://shop.example/python", price="39.00")
            response = staff_client.post(change, edited)
        assert response.status_code == 302
        stored = Offer.objects.get()
        assert (stored.store_url, str(stored.price)) == ("https://shop.example/python", "39.00")
        assert [(row.action, row.detail["changed"]) for row in rows] == [
            (AuditEvent.Action.OFFER_CHANGED, ["price", "store_url"])
        ]

    @pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://shop.example/python"])
    def test_a_bad_store_link_is_refused_beside_its_field(self, staff_client, enrollment_offer, url):
        change = f"/admin/vouchers/offer/{enrollment_offer.pk}/change/"
        with audited() as rows:
            response = staff_client.post(change, offer_fields(enrollment_offer, store_url=url))
        assert response.status_code == 200
        assert "store_url" in response.context["adminform"].form.errors
        assert Offer.objects.get().store_url == ""
        assert rows == []


class TestCodeSearchUsesTheIndex:
    def test_a_code_typed_with_dashes_and_lower_case_is_found(self, client, staff, enrollment_offer, make_code):
        client.force_login(staff)
        shown = make_code(enrollment_offer)
        response = client.get("/admin/vouchers/code/", {"q": shown.lower()})
        assert shown.replace("-", "") in response.content.decode()
        assert response.context["cl"].result_count == 1

    def test_the_search_is_an_exact_primary_key_match(self, client, staff, enrollment_offer, make_code):
        client.force_login(staff)
        shown = make_code(enrollment_offer)
        with CaptureQueriesContext(connection) as queries:
            client.get("/admin/vouchers/code/", {"q": shown})
        code_queries = [q["sql"] for q in queries.captured_queries if 'FROM "vouchers_code"' in q["sql"]]
        assert code_queries
        assert all("UPPER" not in sql and "LIKE" not in sql for sql in code_queries)

    def test_redemptions_are_still_searched_by_username(
        self, client, staff, learner, enrollment_offer, make_code, running_session
    ):
        client.force_login(staff)
        voucher_redeem(code=make_code(enrollment_offer), user=learner, session=running_session)
        response = client.get("/admin/vouchers/redemption/", {"q": "learner"})
        assert response.context["cl"].result_count == 1

    def test_a_refused_attempt_is_found_by_its_code(self, client, staff, learner, running_session):
        from tessera.vouchers import codes

        unknown = codes.format_code(codes.generate(1)[0])
        with pytest.raises(DomainError):
            voucher_redeem(code=unknown.lower(), user=learner, session=running_session)
        client.force_login(staff)
        response = client.get("/admin/vouchers/auditevent/", {"q": unknown})
        assert response.context["cl"].result_count == 1


class TestNothingIsDeleted:
    @pytest.mark.parametrize("model", ["batch", "code", "redemption"])
    def test_service_rows_cannot_be_deleted_in_the_admin(self, client, staff, model):
        client.force_login(staff)
        response = client.get(f"/admin/vouchers/{model}/")
        assert response.status_code == 200
        assert "delete_selected" not in response.content.decode()


class TestVouchersOffHidesTheAdminModule:
    def test_the_admin_index_lists_no_voucher_pages(self, client, staff, settings):
        client.force_login(staff)
        settings.TESSERA_VOUCHERS_ENABLED = False
        content = client.get("/admin/").content.decode()
        assert "/admin/vouchers/" not in content
        assert "/admin/catalog/" in content

    def test_with_vouchers_on_it_lists_them(self, client, staff):
        client.force_login(staff)
        assert "/admin/vouchers/code/" in client.get("/admin/").content.decode()


class TestAnOfferWithCodesIsFrozen:
    def test_product_and_session_cannot_change_once_codes_exist(self, client, staff, enrollment_offer, make_batch):
        make_batch(enrollment_offer)
        client.force_login(staff)
        form = client.get(f"/admin/vouchers/offer/{enrollment_offer.pk}/change/").context["adminform"].form
        assert "product" not in form.fields
        assert "session" not in form.fields
        assert "name" in form.fields

    def test_without_the_read_only_display_the_service_still_refuses_in_plain_words(
        self, client, staff, enrollment_offer, make_batch, monkeypatch
    ):
        monkeypatch.setattr(OfferAdmin, "get_readonly_fields", lambda self, request, obj=None: [])
        make_batch(enrollment_offer)
        client.force_login(staff)
        change = f"/admin/vouchers/offer/{enrollment_offer.pk}/change/"
        response = client.post(change, offer_fields(enrollment_offer, product="proctoring"))
        assert response.status_code == 200  # the form again, with the refusal above it
        assert OfferFrozen.default_message in response.content.decode()
        assert Offer.objects.get().product == "enrollment"

    def test_an_offer_without_codes_can_still_change(self, client, staff, enrollment_offer):
        client.force_login(staff)
        form = client.get(f"/admin/vouchers/offer/{enrollment_offer.pk}/change/").context["adminform"].form
        assert "product" in form.fields


class TestAuditSearch:
    def test_a_mistyped_attempt_is_found_by_what_was_typed(
        self, client, staff, learner, enrollment_offer, make_code, running_session
    ):
        shown = make_code(enrollment_offer)
        typo = ("1" if shown[0] != "1" else "2") + shown[1:]
        with pytest.raises(DomainError):
            voucher_redeem(code=typo, user=learner, session=running_session)
        client.force_login(staff)
        response = client.get("/admin/vouchers/auditevent/", {"q": typo.lower()})
        assert response.context["cl"].result_count == 1

    def test_a_short_term_searches_the_actor(self, client, staff, learner, running_session):
        from tessera.vouchers import codes

        with pytest.raises(DomainError):
            voucher_redeem(code=codes.generate(1)[0], user=learner, session=running_session)
        client.force_login(staff)
        response = client.get("/admin/vouchers/auditevent/", {"q": "learner"})
        assert response.context["cl"].result_count == 1


class TestImportedCodeSearch:
    """Codes imported from elsewhere are stored as codes.imported_key gives them, not as a
    generated code is read: each search box finds them by their text, typed in any case."""

    @pytest.fixture
    def redeemed(self, enrollment_offer, learner, other_learner, running_session) -> None:
        spec = BatchSpec(count=2, country="DE")
        codes_import(offer=enrollment_offer, codes=CodeList.numbered(["BOOK-SALE-O1L", "GIFT-2027"], source="t"),
                     spec=spec)  # fmt: skip
        voucher_redeem(code="book-sale-o1l", user=learner, session=running_session)
        voucher_redeem(code="GIFT-2027", user=other_learner, session=running_session)

    def test_the_redemption_of_an_imported_code_is_found_by_it(self, client, staff, redeemed):
        client.force_login(staff)
        response = client.get("/admin/vouchers/redemption/", {"q": "book sale o1l"})
        assert [redemption.code_id for redemption in response.context["cl"].result_list] == ["BOOKSALEO1L"]

    def test_redemptions_are_still_found_by_username(self, client, staff, redeemed):
        client.force_login(staff)
        response = client.get("/admin/vouchers/redemption/", {"q": "other_learner"})
        assert [redemption.code_id for redemption in response.context["cl"].result_list] == ["GIFT2027"]

    def test_the_code_itself_is_found(self, client, staff, redeemed):
        client.force_login(staff)
        response = client.get("/admin/vouchers/code/", {"q": "gift-2027"})
        assert [code.code for code in response.context["cl"].result_list] == ["GIFT2027"]

    def test_the_audit_log_finds_what_happened_to_it(self, client, staff, redeemed):
        client.force_login(staff)
        response = client.get("/admin/vouchers/auditevent/", {"q": "Book-Sale-O1L"})
        assert [(event.action, event.code) for event in response.context["cl"].result_list] == [
            (AuditEvent.Action.REDEEMED, "BOOKSALEO1L")
        ]


class TestMailAdmin:
    def test_a_template_is_saved_through_the_service_and_audited(self, staff_client):
        fields = {"kind": "code", "language": "DE", "subject": "Code {{ code }}", "body": "{{ redeem_link }}"}
        response = staff_client.post("/admin/vouchers/messagetemplate/add/", fields)
        assert response.status_code == 302, response.content
        assert MessageTemplate.objects.get().language == "de"
        assert AuditEvent.objects.filter(action="template_changed").count() == 1

    def test_a_template_that_does_not_parse_is_shown_beside_its_field(self, staff_client):
        fields = {"kind": "code", "language": "en", "subject": "Code", "body": "{% if %}"}
        response = staff_client.post("/admin/vouchers/messagetemplate/add/", fields)
        assert response.status_code == 200
        assert "not a valid template" in response.content.decode()
        assert not MessageTemplate.objects.exists()

    def test_a_template_is_not_deleted_only_edited(self, staff_client):
        template = template_save(kind="code", language="en", subject="s", body="b", actor="staff")
        response = staff_client.post(f"/admin/vouchers/messagetemplate/{template.pk}/delete/", {"post": "yes"})
        assert response.status_code == 403
        assert MessageTemplate.objects.exists()

    def test_the_withdraw_action_revokes_the_mailed_code(self, staff_client, enrollment_offer, make_batch):
        batch = make_batch(enrollment_offer, count=1)
        assignment = Assignment.objects.create(
            code=batch.codes.get(), batch=batch, email="a@x.org", assigned_at=timezone.now(), state="sent"
        )
        staff_client.post(
            "/admin/vouchers/assignment/",
            {"action": "withdraw_assignments", "_selected_action": [assignment.pk]},
        )
        assignment.refresh_from_db()
        assert assignment.state == "withdrawn"
        assert assignment.code.revoked_at is not None
