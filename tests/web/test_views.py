"""The learner's pages: course list, a course session's page with its voucher forms, dashboard,
sign-up and log-in; every voucher refusal shown in plain words with the code kept."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tessera.catalog.models import Enrollment
from tessera.core.ratelimit.limiter import RateLimited
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import CodeExhausted, CodeMistyped, CodeNotFound, NotEligible, WrongProduct
from tessera.vouchers.models import AuditEvent, Product
from tessera.vouchers.selectors.codes import parse_code
from tessera.vouchers.services import voucher_redeem
from tests.web.pages import SURROGATE_ON_THE_WIRE, post_form, text

COURSE = "/courses/python-2026"
ENDED = "/courses/python-2025"


def redeem_on_page(client: Client, url: str, product: str, code: str):
    return client.post(url, {"product": product, "code": code})


class TestPagesRender:
    def test_the_root_leads_to_the_course_list(self, client, db):
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"] == "/courses"

    def test_the_course_list_shows_each_session_with_its_state(self, client, running_session, ended_session):
        response = client.get("/courses")
        assert response.status_code == 200
        body = text(response)
        assert 'href="/courses/python-2026"' in body
        assert 'href="/courses/python-2025"' in body
        assert "Active" in body
        assert "Archived" in body
        assert "ended" in body

    def test_the_course_page_shows_a_form_for_each_product_the_session_offers(self, learner_client, running_session):
        body = text(learner_client.get(COURSE))
        assert 'id="enrollment-code"' in body
        assert 'id="proctoring-code"' in body
        assert 'id="reactivation-code"' not in body  # reactivation is off for this session
        assert '<label for="enrollment-code">Voucher code</label>' in body

    def test_the_pages_are_accessible_and_fit_a_phone(self, learner_client, running_session):
        body = text(learner_client.get(COURSE))
        assert 'name="viewport"' in body
        assert 'href="#main"' in body
        assert '<main id="main"' in body
        assert "/static/web/tessera.css" in body
        assert "http://" not in body
        assert "https://" not in body

    def test_an_unknown_course_is_404(self, client, db):
        assert client.get("/courses/no-such-course").status_code == 404

    def test_the_login_and_signup_pages_render(self, client, db):
        assert client.get("/login").status_code == 200
        assert client.get("/signup").status_code == 200


class TestAnonymousVisitors:
    def test_the_dashboard_sends_them_to_log_in_and_back(self, client, db):
        response = client.get("/dashboard")
        assert response.status_code == 302
        assert response["Location"] == "/login?next=/dashboard"

    def test_a_voucher_form_sent_anonymously_leads_to_log_in_and_back(self, client, enrollment_offer, make_code):
        response = redeem_on_page(client, COURSE, "enrollment", make_code(enrollment_offer))
        assert response.status_code == 302
        assert response["Location"] == f"/login?next={COURSE}"
        assert not Enrollment.objects.exists()

    def test_the_course_page_offers_log_in_instead_of_forms(self, client, running_session):
        body = text(client.get(COURSE))
        assert 'id="enrollment-code"' not in body
        assert f'href="/login?next={COURSE}"' in body

    def test_logging_in_returns_them_where_they_were(self, client, learner):
        response = client.post("/login", {"username": "learner", "password": "learner-pass-1", "next": COURSE})
        assert response.status_code == 302
        assert response["Location"] == COURSE

    def test_signing_up_creates_the_account_signs_it_in_and_returns(self, client, running_session):
        response = client.post(
            "/signup",
            {
                "username": "newcomer",
                "password1": "a-long-pass-phrase",
                "password2": "a-long-pass-phrase",
                "next": COURSE,
            },
        )
        assert response.status_code == 303
        assert response["Location"] == COURSE
        assert client.get("/dashboard").status_code == 200
        assert User.objects.filter(username="newcomer").exists()

    def test_signing_up_with_mismatched_passwords_is_422_and_creates_nobody(self, client, db):
        response = client.post("/signup", {"username": "x", "password1": "a-long-pass-1", "password2": "other-pass-2"})
        assert response.status_code == 422
        assert not User.objects.filter(username="x").exists()

    def test_signing_up_ignores_a_next_leading_elsewhere(self, client, db):
        response = client.post(
            "/signup",
            {"username": "y", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase",
             "next": "https://evil.example/"},
        )  # fmt: skip
        assert response["Location"] == "/dashboard"


class TestSignupSwitch:
    def test_with_sign_up_off_the_page_does_not_exist(self, client, db, settings):
        settings.TESSERA_SIGNUP_ENABLED = False
        assert client.get("/signup").status_code == 404
        response = client.post(
            "/signup", {"username": "x", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
        )
        assert response.status_code == 404
        assert not User.objects.filter(username="x").exists()


class TestRedeemingOnThePage:
    def test_a_good_code_enrolls_and_redirects_back_with_a_message(
        self, learner_client, learner, enrollment_offer, make_code, running_session
    ):
        response = redeem_on_page(learner_client, COURSE, "enrollment", make_code(enrollment_offer))
        assert response.status_code == 303
        assert response["Location"] == COURSE
        assert Enrollment.objects.filter(user=learner, session=running_session, active=True).exists()
        body = text(learner_client.get(COURSE))
        assert "You are enrolled in Python: python-2026." in body
        assert "Enrolled" in body

    def test_booking_proctoring_says_so(self, learner_client, learner, enrollment_offer, proctoring_offer, make_code):
        redeem_on_page(learner_client, COURSE, "enrollment", make_code(enrollment_offer))
        response = redeem_on_page(learner_client, COURSE, "proctoring", make_code(proctoring_offer))
        assert response.status_code == 303
        assert "Proctoring is booked for Python: python-2026." in text(learner_client.get(COURSE))
        assert Enrollment.objects.get(user=learner).proctored

    def test_an_empty_code_is_422(self, learner_client, running_session):
        response = redeem_on_page(learner_client, COURSE, "enrollment", "")
        assert response.status_code == 422
        assert "This field is required." in text(response)

    def test_an_unknown_product_is_422(self, learner_client, running_session):
        response = redeem_on_page(learner_client, COURSE, "lunch", "ABCD")
        assert response.status_code == 422


class TestRefusalsOnThePage:
    def assert_refused(self, response, message: str, code: str, product: str = "enrollment") -> None:
        assert response.status_code == 422
        body = text(response)
        assert message in body
        assert f'id="{product}-code" value="{code}"' in body
        assert 'aria-invalid="true"' in body

    def test_a_mistyped_code(self, learner_client, enrollment_offer, make_code):
        good = make_code(enrollment_offer)
        typo = good[:-1] + ("0" if good[-1] != "0" else "1")
        with pytest.raises(CodeMistyped) as refused:  # the core's own words for this typo
            parse_code(typo)
        response = redeem_on_page(learner_client, COURSE, "enrollment", typo)
        self.assert_refused(response, refused.value.message, typo)

    def test_an_unknown_code(self, learner_client, running_session):
        unknown = codebook.format_code(codebook.generate(1)[0])
        response = redeem_on_page(learner_client, COURSE, "enrollment", unknown)
        self.assert_refused(response, CodeNotFound.default_message, unknown)

    def test_an_exhausted_code(self, learner_client, other_learner, enrollment_offer, make_code, running_session):
        code = make_code(enrollment_offer)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        response = redeem_on_page(learner_client, COURSE, "enrollment", code)
        self.assert_refused(response, CodeExhausted.default_message, code)

    def test_a_code_for_another_product(self, learner_client, enrollment_offer, make_code):
        code = make_code(enrollment_offer)
        response = redeem_on_page(learner_client, COURSE, "proctoring", code)
        self.assert_refused(response, "This code is for enrollment, not proctoring.", code, product="proctoring")
        assert not Enrollment.objects.exists()

    def test_a_learner_not_eligible(self, learner_client, enrollment_offer, make_code, proctoring_offer):
        code = make_code(proctoring_offer)  # proctoring needs an enrollment first
        response = redeem_on_page(learner_client, COURSE, "proctoring", code)
        self.assert_refused(response, "Enroll in this course session before booking proctoring.", code, "proctoring")

    def test_the_refusal_classes_checked_here_are_the_cores(self):
        # The pages show the core's own messages; these are the codes the tests above produce.
        assert {c.code for c in (CodeMistyped, CodeNotFound, CodeExhausted, WrongProduct, NotEligible)} == {
            "mistyped", "not_found", "exhausted", "wrong_product", "not_eligible",
        }  # fmt: skip

    @pytest.mark.usefixtures("ratelimit_clock")  # its counts stay in one minute's window
    def test_too_many_guesses_answer_429_with_the_wait(self, learner_client, running_session, settings):
        settings.TESSERA_FAILED_ATTEMPTS = [(2, 60)]
        guesses = [codebook.format_code(code) for code in codebook.generate(3)]
        for guess in guesses[:2]:
            assert redeem_on_page(learner_client, COURSE, "enrollment", guess).status_code == 422
        response = redeem_on_page(learner_client, COURSE, "enrollment", guesses[2])
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert "Too many failed attempts. Try again in" in text(response)
        assert RateLimited.code == "rate_limited"

    @pytest.mark.usefixtures("ratelimit_clock")  # its counts stay in one minute's window
    def test_too_many_refusals_of_a_real_code_answer_429_and_write_no_more_audit_rows(
        self, learner_client, other_learner, enrollment_offer, make_code, running_session, settings
    ):
        settings.TESSERA_REFUSED_ATTEMPTS = [(3, 60)]
        code = make_code(enrollment_offer)
        voucher_redeem(code=code, user=other_learner, session=running_session)
        for _ in range(3):
            assert redeem_on_page(learner_client, COURSE, "enrollment", code).status_code == 422
        refused = AuditEvent.objects.filter(action=AuditEvent.Action.REFUSED).count()
        response = redeem_on_page(learner_client, COURSE, "enrollment", code)
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert AuditEvent.objects.filter(action=AuditEvent.Action.REFUSED).count() == refused == 3


class TestSwitches:
    def test_with_vouchers_off_no_voucher_form_is_shown(self, learner_client, running_session, ended_session, settings):
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert 'name="code"' not in text(learner_client.get(COURSE))
        assert "Reactivate" not in text(learner_client.get("/courses"))

    def test_with_vouchers_off_a_sent_form_is_refused_in_plain_words(
        self, learner_client, enrollment_offer, make_code, settings
    ):
        code = make_code(enrollment_offer)
        settings.TESSERA_VOUCHERS_ENABLED = False
        response = redeem_on_page(learner_client, COURSE, "enrollment", code)
        assert response.status_code == 422
        assert "Vouchers are disabled on this platform." in text(response)
        assert not Enrollment.objects.exists()

    def test_with_a_product_off_its_form_is_gone(self, learner_client, running_session, settings):
        settings.TESSERA_PRODUCTS_ENABLED = [Product.ENROLLMENT, Product.REACTIVATION]
        body = text(learner_client.get(COURSE))
        assert 'id="enrollment-code"' in body
        assert 'id="proctoring-code"' not in body


class TestReactivation:
    def test_the_course_list_offers_reactivation_of_an_ended_session(
        self, learner_client, ended_session, running_session
    ):
        body = text(learner_client.get("/courses"))
        assert f'href="{ENDED}#reactivation"' in body
        assert f'href="{COURSE}#reactivation"' not in body

    def test_reactivating_shows_the_date_on_the_dashboard_without_a_second_reactivate(
        self, learner_client, learner, reactivation_offer, make_code, ended_session, now
    ):
        response = redeem_on_page(learner_client, ENDED, "reactivation", make_code(reactivation_offer))
        assert response.status_code == 303
        until = Enrollment.objects.get(user=learner, session=ended_session).reactivated_until
        assert until is not None
        assert until - now >= timedelta(weeks=8)
        assert f"is reactivated for you until {until:%Y-%m-%d}." in text(learner_client.get(ENDED))
        body = text(learner_client.get("/dashboard"))
        assert f"Reactivated until {until:%Y-%m-%d}" in body
        assert f'href="{ENDED}#reactivation"' not in body

    def test_the_dashboard_offers_reactivation_of_an_enrolled_ended_session(
        self, learner_client, learner, ended_session
    ):
        Enrollment.objects.create(user=learner, session=ended_session)
        body = text(learner_client.get("/dashboard"))
        assert f'href="{ENDED}#reactivation"' in body
        assert "Enrolled" in body


class TestDashboard:
    def test_it_shows_my_enrollments_and_proctoring_only(
        self, learner_client, learner, other_learner, running_session, ended_session
    ):
        Enrollment.objects.create(user=learner, session=running_session, proctored=True)
        Enrollment.objects.create(user=other_learner, session=ended_session)
        body = text(learner_client.get("/dashboard"))
        assert "python-2026" in body
        assert "Proctoring booked" in body
        assert "python-2025" not in body

    def test_logging_out_leads_to_the_course_list(self, learner_client, db):
        response = learner_client.post("/logout")
        assert response.status_code == 302
        assert response["Location"] == "/courses"


class TestExamDeadlines:
    def test_the_course_page_shows_each_exams_deadline(self, learner_client, running_session):
        page = text(learner_client.get(COURSE))
        for exam in running_session.exams.all():
            assert f"{exam.submission_deadline:%Y-%m-%d %H:%M}" in page
            assert exam.title in page

    def test_a_reactivation_moves_the_graded_deadline_shown_on_the_dashboard(
        self, learner_client, learner, ended_session, reactivation_offer, make_code, now
    ):
        Enrollment.objects.create(user=learner, session=ended_session)
        final = ended_session.exams.get()
        assert f'{final.submission_deadline:%Y-%m-%d %H:%M} <span class="help">(passed)' in text(
            learner_client.get("/dashboard")
        )
        redeem_on_page(learner_client, ENDED, Product.REACTIVATION, make_code(reactivation_offer))
        until = Enrollment.objects.get(user=learner).reactivated_until
        assert until is not None
        assert until - now >= timedelta(weeks=8)
        page = text(learner_client.get("/dashboard"))
        assert f"{until:%Y-%m-%d %H:%M}" in page
        assert f"{final.submission_deadline:%Y-%m-%d %H:%M}" not in page


def voucher_section(page: str, product: str) -> str:
    """The card of one product's voucher form, from its opening tag to its end."""
    start = page.index(f'<section class="card voucher" id="{product}"')
    return page[start : page.index("</section>", start)]


class TestNoCodeYet:
    """Beside a code field, a link to where codes are sold, with the price (offers_on_sale picks the offer)."""

    def test_the_code_field_has_a_buy_link_with_the_price(self, learner_client, make_offer, running_session):
        make_offer(
            Product.ENROLLMENT, running_session, price=Decimal("49"), currency="EUR",
            store_url="https://shop.example/python?run=2026&lang=en",
        )  # fmt: skip
        card = voucher_section(text(learner_client.get(COURSE)), Product.ENROLLMENT)
        link = '<a href="https://shop.example/python?run=2026&lang=en" rel="noopener">Buy one</a>'
        assert f'No code yet? {link} <span class="price">49.00 EUR</span>' in card
        assert card.index('id="enrollment-code"') < card.index("No code yet?") < card.index("<button")

    def test_each_product_links_to_its_own_offer_and_an_unlinked_one_shows_none(
        self, learner_client, make_offer, running_session
    ):
        make_offer(Product.ENROLLMENT, running_session, store_url="https://shop.example/seat")
        make_offer(Product.PROCTORING, running_session)
        page = text(learner_client.get(COURSE))
        assert '<a href="https://shop.example/seat" rel="noopener">Buy one</a>' in voucher_section(page, "enrollment")
        assert "No code yet?" not in voucher_section(page, "proctoring")

    def test_a_free_offer_links_without_a_price(self, learner_client, make_offer, running_session):
        make_offer(Product.ENROLLMENT, running_session, store_url="https://shop.example/seat")
        card = voucher_section(text(learner_client.get(COURSE)), Product.ENROLLMENT)
        assert "Buy one</a></p>" in card
        assert 'class="price"' not in card

    def test_no_offer_with_a_store_link_means_no_buy_link(self, learner_client, enrollment_offer):
        assert "No code yet?" not in text(learner_client.get(COURSE))

    def test_the_link_is_escaped_as_html(self, learner_client, make_offer, running_session):
        make_offer(Product.ENROLLMENT, running_session, store_url='https://shop.example/"><script>x</script>')
        body = learner_client.get(COURSE).content.decode()
        assert "<script>x" not in body
        assert 'href="https://shop.example/&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in body

    def test_anonymous_visitors_see_where_to_buy_beside_log_in(self, client, make_offer, running_session):
        make_offer(Product.PROCTORING, None, price=Decimal("29.00"), store_url="https://shop.example/proctoring")
        page = text(client.get(COURSE))
        link = '<a href="https://shop.example/proctoring" rel="noopener">Buy one (proctoring)</a>'
        assert f'No code yet? {link} <span class="price">29.00 EUR</span>' in page
        assert f'href="/login?next={COURSE}"' in page

    def test_with_vouchers_off_no_buy_link_is_shown(self, learner_client, make_offer, running_session, settings):
        make_offer(Product.ENROLLMENT, running_session, store_url="https://shop.example/seat")
        settings.TESSERA_VOUCHERS_ENABLED = False
        assert "No code yet?" not in text(learner_client.get(COURSE))


class TestFormsOfWhatIHoldAlready:
    def test_an_enrolled_learner_sees_no_enroll_form_but_can_book_proctoring(
        self, learner_client, learner, running_session, enrollment_offer
    ):
        Enrollment.objects.create(user=learner, session=running_session)
        page = text(learner_client.get(COURSE))
        assert "Enroll with a code" not in page
        assert "Book proctoring" in page

    def test_after_booking_proctoring_its_form_is_gone(self, learner_client, learner, running_session):
        Enrollment.objects.create(user=learner, session=running_session, proctored=True)
        page = text(learner_client.get(COURSE))
        assert "Book proctoring" not in page
        assert "Proctoring booked" in page

    def test_a_stale_enroll_form_sent_again_is_refused_in_plain_words(
        self, learner_client, learner, running_session, enrollment_offer, make_code
    ):
        Enrollment.objects.create(user=learner, session=running_session)
        response = redeem_on_page(learner_client, COURSE, Product.ENROLLMENT, make_code(enrollment_offer))
        assert response.status_code == 422
        assert "You are already enrolled in this course session." in text(response)


class TestLoneSurrogatesInForms:
    @pytest.mark.parametrize("field", ["code", "product"])
    def test_the_voucher_form_refuses_them_in_plain_words(self, learner_client, running_session, field):
        fields = {"product": "enrollment", "code": "ABCD", field: SURROGATE_ON_THE_WIRE}
        response = post_form(learner_client, COURSE, fields)
        assert response.status_code == 422
        assert not Enrollment.objects.exists()

    def test_sign_up_refuses_them(self, client, db):
        fields = {"username": SURROGATE_ON_THE_WIRE, "password1": SURROGATE_ON_THE_WIRE, "password2": "x"}
        assert post_form(client, "/signup", fields).status_code == 422
        assert not User.objects.exists()

    def test_log_in_refuses_them(self, client, learner):
        fields = {"username": SURROGATE_ON_THE_WIRE, "password": SURROGATE_ON_THE_WIRE}
        assert post_form(client, "/login", fields).status_code == 200  # the form again, with its error


EXAM = "/assessments/python-exam"


class TestAssessmentPage:
    def test_it_shows_the_assessment_its_window_and_a_code_form(self, learner_client, assessment):
        body = text(learner_client.get(EXAM))
        assert "<h1>Python certification exam</h1>" in body
        assert "Part of Python" in body
        assert "up to 3 attempts each" in body
        assert 'id="assessment-code"' in body
        assert "Take this assessment with a code" in body

    def test_a_good_code_grants_it_and_the_page_shows_the_attempts(self, learner_client, learner, assessment_offer,
                                                                   make_code):  # fmt: skip
        response = redeem_on_page(learner_client, EXAM, "assessment", make_code(assessment_offer))
        assert (response.status_code, response["Location"]) == (303, EXAM)
        body = text(learner_client.get(EXAM))
        assert "Python certification exam is yours: 3 attempts in all." in body
        assert "Yours: 3 attempts in all" in body
        assert "More attempts with a code" in body

    def test_a_refusal_is_shown_beside_the_code_kept(self, learner_client, enrollment_offer, make_code, assessment):
        code = make_code(enrollment_offer)
        response = redeem_on_page(learner_client, EXAM, "assessment", code)
        assert response.status_code == 422
        body = text(response)
        assert "This code is for enrollment, not assessment." in body
        assert f'value="{code}"' in body

    def test_a_closed_assessment_says_so_and_shows_no_form(self, learner_client, assessment, now):
        assessment.closes_at, assessment.opens_at = now - timedelta(minutes=1), now - timedelta(days=2)
        assessment.save()
        body = text(learner_client.get(EXAM))
        assert "This assessment has closed." in body
        assert 'id="assessment-code"' not in body

    def test_no_code_yet_links_to_the_store_and_a_holder_to_a_retake(self, learner_client, make_offer, make_code,
                                                                     assessment):  # fmt: skip
        plain = make_offer(Product.ASSESSMENT, None, assessment=assessment, price=Decimal("39"),
                           store_url="https://shop.example/exam")  # fmt: skip
        make_offer(Product.ASSESSMENT, None, assessment=assessment, attempts=1, adds_attempts=True,
                   price=Decimal("9"), store_url="https://shop.example/retake")  # fmt: skip
        body = text(learner_client.get(EXAM))
        assert 'No code yet? <a href="https://shop.example/exam" rel="noopener">Buy one</a>' in body
        assert '<span class="price">39.00 EUR</span>' in body
        redeem_on_page(learner_client, EXAM, "assessment", make_code(plain))
        assert 'href="https://shop.example/retake"' in text(learner_client.get(EXAM))

    def test_anonymous_visitors_are_asked_to_log_in_and_a_post_leads_there(self, client, assessment_offer, make_code):
        body = text(client.get(EXAM))
        assert "Log in</a> or" in body
        response = redeem_on_page(client, EXAM, "assessment", make_code(assessment_offer))
        assert response.status_code == 302
        assert response["Location"].startswith("/login?next=/assessments/python-exam")

    def test_the_course_page_links_its_assessments_and_the_list_those_alone(self, client, running_session,
                                                                           assessment, lone_assessment):  # fmt: skip
        course_page = text(client.get(COURSE))
        assert '<a href="/assessments/python-exam">Python certification exam</a>' in course_page
        assert "sql-placement" not in course_page
        listed = text(client.get("/courses"))
        assert "Assessments on their own" in listed
        assert '<a href="/assessments/sql-placement">SQL placement test</a>' in listed
        assert "/assessments/python-exam" not in listed

    def test_an_unknown_assessment_is_404(self, client, db):
        assert client.get("/assessments/nope").status_code == 404

    def test_the_dashboard_lists_my_assessments_with_their_attempts(self, learner_client, learner, assessment,
                                                                   assessment_offer):  # fmt: skip
        voucher_redeem(code=make_code_for(assessment_offer), user=learner, assessment=assessment)
        body = text(learner_client.get("/dashboard"))
        assert "My assessments" in body
        assert 'href="/assessments/python-exam"' in body
        assert "3 attempts in all" in body


def make_code_for(offer) -> str:
    from tessera.vouchers.selectors.codes import display_code
    from tessera.vouchers.services import BatchSpec, batch_create

    batch = batch_create(offer=offer, spec=BatchSpec(count=1, country="DE"))
    return display_code(batch.codes.get().code, batch.prefix)
