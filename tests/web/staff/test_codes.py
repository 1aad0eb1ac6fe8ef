"""Staff pages to query a code, revoke it and reverse a redemption: what each shows, what each
changes in the database, and who is let in."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tessera.catalog.models import AssessmentEntitlement, CourseSession, Enrollment
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import AlreadyReversed, CodeMistyped, CodeNotFound, CodeRevoked
from tessera.vouchers.models import Assignment, AuditEvent, Batch, Code, Offer, Product, Redemption
from tessera.vouchers.selectors.codes import parse_code
from tessera.vouchers.services import redemption_reverse, voucher_redeem
from tests.web.pages import text

QUERY = "/staff/codes"


def page_of(code: str) -> str:
    return f"/staff/codes/{parse_code(code)}"


def reverse_url(redemption: Redemption) -> str:
    return f"/staff/redemptions/{redemption.pk}/reverse"


def mistyped(code: str) -> str:
    """The code with its check symbol replaced by another symbol: a typo the check symbol catches."""
    normalised = parse_code(code)
    wrong = codebook.ALPHABET[(codebook.ALPHABET.index(normalised[-1]) + 1) % len(codebook.ALPHABET)]
    return normalised[:-1] + wrong


@pytest.fixture
def code(make_code: Callable[..., str], enrollment_offer: Offer) -> str:
    return make_code(enrollment_offer, tag="spring-fair", country="KE", uses_per_code=2)


@pytest.fixture
def redeem(running_session: CourseSession) -> Callable[..., Redemption]:
    def make(code: str, user: User) -> Redemption:
        return voucher_redeem(
            code=code, user=user, session=running_session, product=Product.ENROLLMENT, client_ip="203.0.113.9"
        )

    return make


@pytest.fixture
def redemption(code: str, learner: User, redeem: Callable[..., Redemption]) -> Redemption:
    return redeem(code, learner)


def redemptions_table(body: str) -> str:
    return body.split('id="redemptions-title"', 1)[1]


def stored(code: str) -> Code:
    return Code.objects.get(pk=parse_code(code))


def set_refund_policy(code: str, policy: str) -> None:
    Batch.objects.filter(codes__code=parse_code(code)).update(refund_policy=policy)


class TestQueryACode:
    def test_the_page_has_one_labelled_code_field(self, manager_client, db):
        response = manager_client.get(QUERY)
        assert response.status_code == 200
        body = text(response)
        assert '<label for="code">Code</label>' in body
        assert body.count('name="code"') == 1
        assert 'method="get"' in body

    def test_a_known_code_leads_to_its_page(self, manager_client, code):
        response = manager_client.get(QUERY, {"code": code})
        assert response.status_code in (302, 303)
        assert response["Location"] == page_of(code)

    def test_a_code_typed_in_lower_case_without_dashes_leads_to_the_same_page(self, manager_client, code):
        response = manager_client.get(QUERY, {"code": f"  {code.replace('-', '').lower()} "})
        assert response["Location"] == page_of(code)

    def test_an_unknown_code_is_404_with_the_message_and_the_code_kept(self, manager_client, db):
        unknown = codebook.format_code(codebook.generate(1)[0])
        response = manager_client.get(QUERY, {"code": unknown})
        assert response.status_code == 404
        body = text(response)
        assert CodeNotFound.default_message in body
        assert f'value="{unknown}"' in body
        assert 'aria-invalid="true"' in body

    def test_a_mistyped_code_shows_the_typo_message(self, manager_client, code):
        response = manager_client.get(QUERY, {"code": mistyped(code)})
        assert response.status_code == CodeMistyped.http_status
        body = text(response)
        assert "This code contains a typo" in body
        assert f'value="{mistyped(code)}"' in body

    def test_text_that_is_no_code_at_all_says_why_and_is_no_server_error(self, manager_client, db):
        response = manager_client.get(QUERY, {"code": "hello, world"})
        assert response.status_code == 409
        assert "Not a voucher code" in text(response)

    def test_an_empty_query_just_shows_the_form(self, manager_client, db):
        response = manager_client.get(QUERY, {"code": "  "})
        assert response.status_code == 200
        assert 'role="alert"' not in text(response)


class TestCodePage:
    def test_it_shows_the_code_its_status_and_where_it_comes_from(self, manager_client, code):
        batch = stored(code).batch
        response = manager_client.get(page_of(code))
        assert response.status_code == 200
        body = text(response)
        assert code in body  # the display form, with dashes
        assert 'class="status-live">Live, not used yet' in body
        assert "0 of 2" in body
        assert f'href="/staff/batches/{batch.pk}"' in body
        assert f'href="/staff/offers/{batch.offer_id}"' in body
        assert "<dd>Enrollment</dd>" in body
        assert "<dd>spring-fair</dd>" in body
        assert "<dd>KE</dd>" in body
        assert "Nobody has redeemed this code yet." in body
        assert "Revoke this code" in body

    def test_it_shows_who_redeemed_it_when_and_where(self, manager_client, code, redemption):
        body = text(manager_client.get(page_of(code)))
        assert "1 of 2" in body
        assert "Live, partly used" in body
        table = redemptions_table(body)
        assert "<td>learner</td>" in table
        assert f'datetime="{redemption.redeemed_at.isoformat()}"' in table
        assert "Python (python-2026)" in table
        assert "from 203.0.113.9" in table
        assert f'action="{reverse_url(redemption)}"' in table

    def test_a_code_used_up_is_shown_as_used_up(self, manager_client, code, learner, other_learner, redeem):
        redeem(code, learner)
        redeem(code, other_learner)
        body = text(manager_client.get(page_of(code)))
        assert 'class="status-exhausted">Used up' in body
        assert "2 of 2" in body

    def test_a_reversed_redemption_shows_by_whom_and_has_no_reverse_button(self, manager_client, code, redemption):
        redemption_reverse(redemption=redemption, actor="auditor")
        body = text(manager_client.get(page_of(code)))
        assert "by auditor" in body
        assert f'action="{reverse_url(redemption)}"' not in body

    def test_a_code_of_a_revoked_batch_is_shown_revoked_without_a_revoke_button(self, manager_client, code):
        Batch.objects.filter(codes__code=parse_code(code)).update(revoked_at=timezone.now())
        body = text(manager_client.get(page_of(code)))
        assert 'class="status-revoked">Revoked' in body
        assert "(with its batch)" in body
        assert "Revoke this code" not in body

    def test_an_unknown_code_is_404_with_the_message(self, manager_client, db):
        unknown = codebook.generate(1)[0]
        response = manager_client.get(f"/staff/codes/{unknown}")
        assert response.status_code == 404
        assert CodeNotFound.default_message in text(response)


class TestRevokeACode:
    def test_revoking_sets_revoked_at_and_the_page_then_shows_it_revoked(self, manager_client, code):
        response = manager_client.post(f"{page_of(code)}/revoke")
        assert response.status_code == 303
        assert response["Location"] == page_of(code)
        assert stored(code).revoked_at is not None
        body = text(manager_client.get(response["Location"]))
        assert f"Code {code} is revoked" in body
        assert 'class="status-revoked">Revoked' in body
        assert "Revoke this code" not in body

    def test_a_revoked_code_can_no_longer_be_redeemed(self, manager_client, code, learner, redeem):
        manager_client.post(f"{page_of(code)}/revoke")
        with pytest.raises(CodeRevoked):
            redeem(code, learner)

    def test_revoking_is_recorded_under_the_staff_members_name(self, manager_client, code):
        manager_client.post(f"{page_of(code)}/revoke")
        event = AuditEvent.objects.get(action=AuditEvent.Action.REVOKED, code=parse_code(code))
        assert event.actor == "manager"

    def test_revoking_an_unknown_code_is_404_and_changes_nothing(self, manager_client, code):
        response = manager_client.post(f"/staff/codes/{codebook.generate(1)[0]}/revoke")
        assert response.status_code == 404
        assert CodeNotFound.default_message in text(response)
        assert not Code.objects.filter(revoked_at__isnull=False).exists()

    def test_a_get_does_not_revoke(self, manager_client, code):
        assert manager_client.get(f"{page_of(code)}/revoke").status_code == 405
        assert stored(code).revoked_at is None


class TestReverseARedemption:
    def test_by_default_the_refund_policy_gives_the_use_back(self, manager_client, code, redemption):
        response = manager_client.post(reverse_url(redemption))
        assert response.status_code == 303
        assert response["Location"] == page_of(code)
        redemption.refresh_from_db()
        assert redemption.reversed_at is not None
        assert redemption.reversed_by == "manager"
        assert stored(code).uses == 0
        assert not Enrollment.objects.filter(user=redemption.user, active=True).exists()
        body = text(manager_client.get(response["Location"]))
        assert "is reversed" in body
        assert "the code got its use back (0 of 2 uses taken)" in body

    def test_a_keep_use_policy_keeps_the_use_spent(self, manager_client, code, redemption):
        set_refund_policy(code, Batch.RefundPolicy.KEEP_USE)
        response = manager_client.post(reverse_url(redemption), {"give_back_use": "policy"}, follow=True)
        assert stored(code).uses == 1
        assert Redemption.objects.get(pk=redemption.pk).reversed_at is not None
        assert "the use stays spent (1 of 2 uses taken)" in text(response)

    def test_yes_gives_the_use_back_whatever_the_policy(self, manager_client, code, redemption):
        set_refund_policy(code, Batch.RefundPolicy.KEEP_USE)
        manager_client.post(reverse_url(redemption), {"give_back_use": "yes"})
        assert stored(code).uses == 0

    def test_no_keeps_the_use_spent_whatever_the_policy(self, manager_client, code, redemption):
        manager_client.post(reverse_url(redemption), {"give_back_use": "no"})
        assert stored(code).uses == 1
        assert Redemption.objects.get(pk=redemption.pk).reversed_at is not None

    def test_reversing_twice_is_refused_with_409_and_changes_nothing(self, manager_client, code, redemption):
        manager_client.post(reverse_url(redemption))
        first = Redemption.objects.get(pk=redemption.pk).reversed_at
        response = manager_client.post(reverse_url(redemption), {"give_back_use": "yes"})
        assert response.status_code == 409
        assert AlreadyReversed.default_message in text(response)
        assert Redemption.objects.get(pk=redemption.pk).reversed_at == first
        assert stored(code).uses == 0

    def test_a_choice_not_on_the_form_is_422_and_changes_nothing(self, manager_client, code, redemption):
        response = manager_client.post(reverse_url(redemption), {"give_back_use": "maybe"})
        assert response.status_code == 422
        assert "Choose whether the code gets its use back." in text(response)
        assert Redemption.objects.get(pk=redemption.pk).reversed_at is None
        assert stored(code).uses == 1

    def test_a_get_does_not_reverse(self, manager_client, code, redemption):
        assert manager_client.get(reverse_url(redemption)).status_code == 405
        assert Redemption.objects.get(pk=redemption.pk).reversed_at is None

    def test_an_unknown_redemption_is_404(self, manager_client, db):
        response = manager_client.post("/staff/redemptions/999999/reverse")
        assert response.status_code == 404
        assert "There is no redemption 999999." in text(response)


# --- who gets in ------------------------------------------------------------------------------


def routes(code: str, redemption: Redemption) -> list[tuple[str, str]]:
    return [
        ("get", QUERY),
        ("get", f"{QUERY}?code={code}"),
        ("get", page_of(code)),
        ("post", f"{page_of(code)}/revoke"),
        ("post", reverse_url(redemption)),
    ]


def nothing_changed(code: str, redemption: Redemption) -> bool:
    return stored(code).revoked_at is None and Redemption.objects.get(pk=redemption.pk).reversed_at is None


class TestWhoGetsIn:
    def test_a_learner_is_refused_everywhere_and_nothing_changes(self, client, learner, code, redemption):
        client.force_login(learner)
        for method, url in routes(code, redemption):
            response = getattr(client, method)(url, {"give_back_use": "yes"} if method == "post" else None)
            assert response.status_code == 403, url
        assert nothing_changed(code, redemption)
        assert stored(code).uses == 1

    def test_a_superuser_gets_in(self, client, staff, code):
        client.force_login(staff)
        assert client.get(page_of(code)).status_code == 200

    def test_anonymous_visitors_are_sent_to_log_in_and_back(self, client, code, redemption):
        for method, url in routes(code, redemption):
            response = getattr(client, method)(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/login?next=/staff/"), url
        assert nothing_changed(code, redemption)

    def test_with_vouchers_off_every_route_is_404(self, manager_client, settings, code, redemption):
        settings.TESSERA_VOUCHERS_ENABLED = False
        for method, url in routes(code, redemption):
            assert getattr(manager_client, method)(url).status_code == 404, url
        assert nothing_changed(code, redemption)

    def test_a_post_without_a_csrf_token_is_refused(self, voucher_manager, code, redemption):
        client = Client(enforce_csrf_checks=True)
        client.force_login(voucher_manager)
        assert client.post(f"{page_of(code)}/revoke").status_code == 403
        assert client.post(reverse_url(redemption)).status_code == 403
        assert nothing_changed(code, redemption)

    def test_a_post_with_the_pages_csrf_token_goes_through(self, voucher_manager, code, redemption):
        client = Client(enforce_csrf_checks=True)
        client.force_login(voucher_manager)
        client.get(page_of(code))  # sets the CSRF cookie, as a browser visiting the page would
        token = client.cookies["csrftoken"].value
        assert client.post(reverse_url(redemption), {"csrfmiddlewaretoken": token}).status_code == 303
        assert Redemption.objects.get(pk=redemption.pk).reversed_at is not None


class TestSentByEmail:
    def test_a_codes_page_says_to_whom_it_was_sent_and_in_what_state(
        self, manager_client, enrollment_offer, make_batch
    ):
        batch = make_batch(enrollment_offer, count=1)
        code = batch.codes.get()
        Assignment.objects.create(
            code=code, batch=batch, email="ada@example.org", assigned_at=timezone.now(), state="failed",
            last_error="Refused by the mail server: 550",
        )  # fmt: skip
        page = text(manager_client.get(f"/staff/codes/{code.code}"))
        assert "To ada@example.org: failed" in page
        assert "(Refused by the mail server: 550)" in page

    def test_a_code_never_sent_has_no_such_section(self, manager_client, enrollment_offer, make_batch):
        code = make_batch(enrollment_offer, count=1).codes.get()
        assert "Sent by email" not in text(manager_client.get(f"/staff/codes/{code.code}"))


class TestAnAssessmentCode:
    def test_its_page_shows_the_assessment_and_reversing_ends_the_entitlement(
        self, manager_client, make_code, assessment_offer, learner, assessment
    ):
        code = make_code(assessment_offer)
        redemption = voucher_redeem(code=code, user=learner, assessment=assessment)
        body = text(manager_client.get(page_of(code)))
        assert "Python certification exam (python-exam)" in body
        assert "Python certification exam (python-exam, 3 attempts)" in body
        response = manager_client.post(reverse_url(redemption))
        assert response.status_code == 303
        assert not AssessmentEntitlement.objects.get(user=learner).active
