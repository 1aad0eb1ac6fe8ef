"""A learner's journeys through the pages in a real browser: redeeming codes, refusals shown in
plain words with the code kept, reactivating an ended course, and the doors that stay shut."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from tessera.catalog.models import Enrollment
from tessera.catalog.selectors import exam_deadline_for
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeExhausted, CodeMistyped
from tessera.vouchers.models import Code, Product, Redemption
from tessera.vouchers.selectors.codes import parse_code
from tests.browser.conftest import log_in_on_the_page, redeem_on_the_page, submit, voucher_form

pytestmark = pytest.mark.django_db(transaction=True)

COURSE = "/courses/python-2026"
ENDED = "/courses/python-2025"


def assert_refused_on_the_page(page: Page, response, form_title: str, message: str, code: str) -> None:
    """The page answered 422, says why next to the field, and kept what was typed."""
    assert response.status == 422
    assert response.request.method == "POST"
    form = voucher_form(page, form_title)
    field = form.get_by_label("Voucher code")
    expect(form.get_by_role("alert")).to_have_text(message)
    expect(field).to_have_value(code)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(message)


def assert_redirected_after_post(response, path: str) -> None:
    posted = response.request.redirected_from
    assert posted is not None
    assert posted.method == "POST"
    assert posted.response().status == 303
    assert response.url.endswith(path)
    assert response.status == 200


class TestACodeWithTwoUses:
    def test_two_learners_enroll_and_the_third_is_told_it_is_used_up(
        self, page, log_in, learner, other_learner, enrollment_offer, make_code, running_session
    ):
        code = make_code(enrollment_offer, uses_per_code=2)
        third = User.objects.create_user("third_learner", password="third-pass-1")

        page.goto(f"/login?next={COURSE}")
        landed = log_in_on_the_page(page, "learner", "learner-pass-1")
        assert landed.url.endswith(COURSE)
        assert_redirected_after_post(redeem_on_the_page(page, "Enroll with a code", code), COURSE)
        expect(page.get_by_role("status")).to_have_text("You are enrolled in Python: python-2026.")
        expect(page.get_by_role("listitem").filter(has_text="Enrolled")).to_be_visible()
        submit(page, page.get_by_role("button", name="Log out learner"))

        log_in(page, other_learner)
        page.goto(COURSE)
        assert_redirected_after_post(redeem_on_the_page(page, "Enroll with a code", code), COURSE)
        expect(page.get_by_role("status")).to_have_text("You are enrolled in Python: python-2026.")
        page.context.clear_cookies()

        log_in(page, third)
        page.goto(COURSE)
        refused = redeem_on_the_page(page, "Enroll with a code", code)
        assert_refused_on_the_page(page, refused, "Enroll with a code", CodeExhausted.default_message, code)

        enrolled = set(Enrollment.objects.filter(session=running_session, active=True).values_list("user", flat=True))
        assert enrolled == {learner.pk, other_learner.pk}
        assert Code.objects.get(pk=parse_code(code)).uses == 2


class TestAMistypedCode:
    def test_one_wrong_symbol_is_caught_by_the_check_symbol(self, page, log_in, learner, enrollment_offer, make_code):
        good = make_code(enrollment_offer)
        wrong = next(symbol for symbol in codebook.ALPHABET if symbol != good[0])
        typo = wrong + good[1:]
        with pytest.raises(CodeMistyped) as refused:  # the core's own words for this typo
            parse_code(typo)

        log_in(page, learner)
        page.goto(COURSE)
        response = redeem_on_the_page(page, "Enroll with a code", typo)

        assert_refused_on_the_page(page, response, "Enroll with a code", refused.value.message, typo)
        assert not Enrollment.objects.exists()
        assert not Redemption.objects.exists()


class TestReactivatingAnEndedCourse:
    """The pages list no exams: the date they show is the reactivation's end, which is when the
    session's graded exams are due for this learner now (catalog.selectors.exam_deadline_for)."""

    def test_the_dashboard_leads_to_the_form_and_the_deadline_shown_moves_out_by_the_period(
        self, page, log_in, live_server, learner, reactivation_offer, make_code, ended_session
    ):
        enrollment = Enrollment.objects.create(user=learner, session=ended_session)
        final = ended_session.exams.get(graded=True)
        assert exam_deadline_for(exam=final, enrollment=enrollment) == final.submission_deadline
        code = make_code(reactivation_offer)
        log_in(page, learner)

        page.goto("/dashboard")
        mine = page.get_by_role("region", name="Python: python-2025")
        expect(mine.get_by_role("listitem")).to_have_text(["Enrolled"])  # no "Reactivated until" yet
        expect(exam_row(mine, final.title)).to_contain_text(f"{final.submission_deadline:%Y-%m-%d %H:%M} (passed)")
        mine.get_by_role("link", name="Reactivate Python: python-2025").click()
        expect(page).to_have_url(f"{live_server.url}{ENDED}#reactivation")
        expect(voucher_form(page, "Reactivate this course").get_by_label("Voucher code")).to_be_visible()

        before = timezone.now()
        response = redeem_on_the_page(page, "Reactivate this course", code)
        after = timezone.now()

        assert_redirected_after_post(response, ENDED)
        enrollment.refresh_from_db()
        until = enrollment.reactivated_until
        assert until is not None
        assert exam_deadline_for(exam=final, enrollment=enrollment) == until
        period = ended_session.reactivation_period
        assert period == timedelta(weeks=8)
        assert before + period <= until <= after + period
        shown = f"{until:%Y-%m-%d}"
        expect(page.get_by_role("status")).to_have_text(f"Python: python-2025 is reactivated for you until {shown}.")
        expect(page.get_by_role("listitem").filter(has_text="Reactivated until")).to_have_text(
            f"Reactivated until {shown}"
        )

        page.goto("/dashboard")
        mine = page.get_by_role("region", name="Python: python-2025")
        expect(mine.get_by_role("listitem")).to_have_text(["Enrolled", f"Reactivated until {shown}"])
        # The graded exam's deadline shown has moved out by the reactivation period.
        expect(exam_row(mine, final.title)).to_have_text(f"{final.title} {until:%Y-%m-%d %H:%M}")
        expect(mine.get_by_role("link", name="Reactivate Python: python-2025")).to_have_count(0)


def exam_row(region: Locator, title: str) -> Locator:
    return region.get_by_role("table", name="Exams").get_by_role("row").filter(has_text=title)


class TestProctoringAfterTheFirstDeadline:
    def test_booking_is_refused_in_plain_words(
        self, page, log_in, learner, proctoring_offer, make_code, running_session, now
    ):
        Enrollment.objects.create(user=learner, session=running_session)
        midterm = running_session.exams.filter(title="Midterm")
        midterm.update(submission_deadline=now - timedelta(days=1))
        code = make_code(proctoring_offer)
        log_in(page, learner)

        page.goto(COURSE)
        response = redeem_on_the_page(page, "Book proctoring", code)

        message = "The submission deadline of the first proctored exam has passed."
        assert_refused_on_the_page(page, response, "Book proctoring", message, code)
        assert not Enrollment.objects.get(user=learner).proctored
        assert Code.objects.get(pk=parse_code(code)).uses == 0


class TestALearnerWithoutACode:
    def test_finds_where_to_buy_one_beside_the_code_field_and_follows_it(
        self, page, live_server, log_in, learner, make_offer, running_session
    ):
        # Another origin than the page's (localhost), answered by the same server, so no network is needed.
        store = live_server.url.replace("localhost", "127.0.0.1") + "/courses?bought=seat"
        make_offer(Product.ENROLLMENT, running_session, price=Decimal("49.00"), store_url=store)
        log_in(page, learner)
        page.goto(COURSE)

        form = voucher_form(page, "Enroll with a code")
        expect(form.get_by_text("No code yet?")).to_have_text("No code yet? Buy one 49.00 EUR")
        expect(voucher_form(page, "Book proctoring").get_by_text("No code yet?")).to_have_count(0)
        with page.expect_navigation():
            form.get_by_role("link", name="Buy one").click()

        assert page.url == store


class TestDoorsThatStayShut:
    def test_a_learner_opening_a_staff_page_is_not_allowed(self, page, log_in, learner):
        log_in(page, learner)

        response = page.goto("/staff/offers")

        assert response is not None
        assert response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff")).to_have_count(0)

    def test_an_anonymous_visitor_is_sent_to_log_in_and_back_to_the_form(
        self, page, live_server, learner, running_session
    ):
        page.goto(COURSE)
        expect(page.get_by_label("Voucher code")).to_have_count(0)
        page.get_by_role("main").get_by_role("link", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        expect(page).to_have_url(f"{live_server.url}/login?next={COURSE}")

        landed = log_in_on_the_page(page, "learner", "learner-pass-1")

        assert landed.url.endswith(COURSE)
        expect(voucher_form(page, "Enroll with a code").get_by_label("Voucher code")).to_be_visible()
        expect(page.get_by_role("button", name="Log out learner")).to_be_visible()
