"""The redeem link's page: GET shows what a code unlocks and never redeems, one POST redeems and
returns to an allowed return_to only, a visitor not signed in logs in and comes back to the whole
link, refusals are shown with the code kept, and a link never reaches another platform's session."""

from html import unescape
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tessera.catalog.models import CourseSession, Enrollment
from tessera.platforms.models import Platform
from tessera.platforms.services import platform_create
from tessera.vouchers import codes as codebook
from tessera.vouchers.errors import AlreadyRedeemed, CodeExhausted, CodeNotFound, WrongProduct
from tessera.vouchers.models import Code, Offer, Product, Redemption
from tessera.vouchers.selectors.codes import parse_code
from tessera.vouchers.services import voucher_redeem
from tests.platform_sessions import platform_session

BACK = "https://lms-a.example/course/7?tab=codes"
SESSION_PAGE = "/courses/a-2026"


@pytest.fixture
def moodle(db: None) -> Platform:
    return platform_create(name="Moodle A", slug="moodle-a", return_urls=["https://lms-a.example/course/"]).platform


@pytest.fixture
def edx(db: None) -> Platform:
    return platform_create(name="Open edX B", slug="edx-b", return_urls=["https://lms-b.example/"]).platform


@pytest.fixture
def a_session(moodle: Platform) -> CourseSession:
    return platform_session(moodle, "s-1", "a-2026")


@pytest.fixture
def a_offer(make_offer, a_session: CourseSession) -> Offer:
    return make_offer(Product.ENROLLMENT, a_session)


@pytest.fixture
def a_code(make_code, a_offer: Offer) -> str:
    return make_code(a_offer)


@pytest.fixture
def learner_client(client: Client, learner: User) -> Client:
    client.force_login(learner)
    return client


def link(code: str = "", *, platform: str = "moodle-a", session: str = "s-1", return_to: str = BACK) -> str:
    query = {"platform": platform, "session": session, "code": code, "return_to": return_to}
    return "/redeem?" + urlencode({name: value for name, value in query.items() if value})


def text(response) -> str:
    return unescape(response.content.decode())


def enrolled(user: User, session: CourseSession) -> bool:
    return Enrollment.objects.filter(user=user, session=session, active=True).exists()


def form_action(policy: str) -> str:
    """The policy's form-action directive, wherever it stands among the others."""
    [directive] = [part.strip() for part in policy.split(";") if part.strip().startswith("form-action")]
    return directive


class TestTheLinksPage:
    def test_shows_what_the_code_unlocks_with_the_code_and_one_button(self, learner_client, a_code):
        response = learner_client.get(link(a_code))
        assert response.status_code == 200
        body = text(response)
        assert "This code enrolls you in Course a-2026: a-2026." in body
        assert f'value="{a_code}"' in body
        assert ">Redeem</button>" in body
        assert f'<a href="{BACK}">Back to Moodle A</a>' in body
        assert 'name="csrfmiddlewaretoken"' in body

    def test_lets_its_form_be_answered_by_a_redirect_to_the_platform_only(self, learner_client, a_code):
        # Browsers hold the redirect after a form's POST to the page's form-action.
        allowed = learner_client.get(link(a_code))["Content-Security-Policy"]
        assert form_action(allowed) == "form-action 'self' https://lms-a.example"
        refused = learner_client.get(link(a_code, return_to="https://evil.example/course/"))["Content-Security-Policy"]
        assert form_action(refused) == "form-action 'self'"
        assert "evil" not in refused

    def test_never_redeems(self, learner_client, learner, a_session, a_code):
        learner_client.get(link(a_code))
        learner_client.head(link(a_code))
        assert not enrolled(learner, a_session)
        assert not Redemption.objects.exists()
        assert Code.objects.get(pk=parse_code(a_code)).uses == 0

    def test_says_when_a_code_expires(self, learner_client, make_code, a_offer, now):
        code = make_code(a_offer, expires_at=now.replace(year=now.year + 1, microsecond=0))
        assert f"It can be redeemed until {now.year + 1}-" in text(learner_client.get(link(code)))

    def test_without_a_code_shows_an_empty_field(self, learner_client, a_session):
        response = learner_client.get(link())
        assert response.status_code == 200
        assert 'value=""' in text(response)

    def test_shows_a_refusal_in_plain_words_with_the_code_kept(self, learner_client, a_session):
        guess = codebook.format_code(codebook.generate(1)[0])
        response = learner_client.get(link(guess))
        assert response.status_code == 422
        body = text(response)
        assert CodeNotFound.default_message in body
        assert f'value="{guess}"' in body
        assert 'aria-invalid="true"' in body


class TestOneClick:
    def test_redeems_and_returns_to_the_platform(self, learner_client, learner, a_session, a_code):
        response = learner_client.post(link(a_code), {"code": a_code})
        assert response.status_code == 303
        assert response["Location"] == BACK
        assert enrolled(learner, a_session)
        assert Redemption.objects.get().client_ip == "127.0.0.1"

    def test_redeems_the_code_as_corrected_on_the_page(self, learner_client, learner, a_session, a_code):
        response = learner_client.post(link("WRONG-CODE"), {"code": a_code})
        assert response["Location"] == BACK
        assert enrolled(learner, a_session)

    @pytest.mark.parametrize(
        "return_to",
        ["https://evil.example/", "https://lms-a.example.evil.example/course/", "https://lms-a.example/course-x",
         "//evil.example", "https://lms-b.example/", "/courses/python-2026"],
    )  # fmt: skip
    def test_never_returns_anywhere_else_but_to_the_session_with_a_message(
        self, learner_client, learner, a_session, a_code, return_to
    ):
        page = text(learner_client.get(link(a_code, return_to=return_to)))
        assert "Back to" not in page
        assert f'href="{return_to}"' not in page
        response = learner_client.post(link(a_code, return_to=return_to), {"code": a_code})
        assert response.status_code == 303
        assert response["Location"] == SESSION_PAGE
        assert enrolled(learner, a_session)
        assert "You are enrolled in Course a-2026: a-2026." in text(learner_client.get(SESSION_PAGE))

    def test_a_refusal_shows_the_code_and_the_way_back(self, learner_client, learner, other_learner, a_code):
        voucher_redeem(code=a_code, user=other_learner, session=CourseSession.objects.get(slug="a-2026"))
        response = learner_client.post(link(a_code), {"code": a_code})
        assert response.status_code == 422
        body = text(response)
        assert CodeExhausted.default_message in body
        assert f'value="{a_code}"' in body
        assert f'<a href="{BACK}">Back to Moodle A</a>' in body
        assert Redemption.objects.filter(user=learner).count() == 0

    def test_a_second_click_is_refused(self, learner_client, make_code, a_offer):
        code = make_code(a_offer, uses_per_code=5)
        assert learner_client.post(link(code), {"code": code}).status_code == 303
        response = learner_client.post(link(code), {"code": code})
        assert response.status_code == 422
        assert AlreadyRedeemed.default_message in text(response)

    def test_a_code_for_another_session_is_refused(self, learner_client, a_session, enrollment_offer, make_code):
        code = make_code(enrollment_offer)  # for python-2026, not this link's session
        response = learner_client.post(link(code), {"code": code})
        assert response.status_code == 422
        assert WrongProduct("This code is for another course session.").message in text(response)

    @pytest.mark.parametrize(("code", "problem"), [("AB\x00CD", "Null characters"), ("A" * 101, "at most 100")])
    def test_a_code_no_code_can_be_is_422_on_either_method(self, learner_client, a_session, code, problem):
        for response in (learner_client.get(link(code)), learner_client.post(link(), {"code": code})):
            assert response.status_code == 422
            assert problem in text(response)
        assert not Redemption.objects.exists()

    def test_an_empty_code_is_422(self, learner_client, a_session):
        response = learner_client.post(link(), {"code": "  "})
        assert response.status_code == 422
        assert "This field is required." in text(response)

    def test_without_return_to_there_is_no_way_back(self, learner_client, a_code):
        response = learner_client.post(link(a_code, return_to=""), {"code": a_code})
        assert response["Location"] == SESSION_PAGE

    def test_needs_the_csrf_token(self, learner, a_session, a_code):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(learner)
        assert browser.post(link(a_code), {"code": a_code}).status_code == 403
        assert not enrolled(learner, a_session)
        browser.get(link(a_code))  # sets the CSRF cookie, as the page does
        token = browser.cookies["csrftoken"].value
        response = browser.post(link(a_code), {"code": a_code, "csrfmiddlewaretoken": token})
        assert response.status_code == 303
        assert enrolled(learner, a_session)

    @pytest.mark.usefixtures("ratelimit_clock")  # its counts stay in one minute's window
    def test_too_many_guesses_answer_429(self, learner_client, a_session, settings):
        settings.TESSERA_FAILED_ATTEMPTS = [(2, 60)]
        for guess in [codebook.format_code(code) for code in codebook.generate(2)]:
            assert learner_client.post(link(), {"code": guess}).status_code == 422
        response = learner_client.get(link(codebook.format_code(codebook.generate(1)[0])))
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert "Too many failed attempts. Try again in" in text(response)


class TestVisitorsNotSignedIn:
    def test_log_in_and_come_back_to_the_whole_link_then_redeem(self, client, learner, a_session, a_code):
        the_link = link(a_code)
        response = client.get(the_link)
        assert response.status_code == 302
        login = urlsplit(response["Location"])
        assert login.path == "/login"
        assert parse_qs(login.query)["next"] == [the_link]
        assert f'name="next" value="{the_link}"' in text(client.get(response["Location"]))

        response = client.post("/login", {"username": "learner", "password": "learner-pass-1", "next": the_link})
        assert response["Location"] == the_link
        assert not enrolled(learner, a_session)  # coming back shows the page; it does not redeem
        assert client.get(the_link).status_code == 200
        assert client.post(the_link, {"code": a_code})["Location"] == BACK
        assert enrolled(learner, a_session)

    def test_signing_up_instead_comes_back_to_the_whole_link_too(self, client, a_session, a_code):
        the_link = link(a_code)
        assert f'href="/signup?next={quote(the_link, safe="/")}"' in text(client.get(f"/login?next={quote(the_link)}"))
        passwords = {"password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
        response = client.post("/signup", {"username": "newcomer", **passwords, "next": the_link})
        assert response.status_code == 303
        assert response["Location"] == the_link

    def test_a_post_leads_to_log_in_and_redeems_nothing(self, client, a_code):
        response = client.post(link(a_code), {"code": a_code})
        assert response.status_code == 302
        assert parse_qs(urlsplit(response["Location"]).query)["next"] == [link(a_code)]
        assert not Redemption.objects.exists()

    def test_log_in_never_follows_a_next_elsewhere(self, client, learner):
        response = client.post("/login", {"username": "learner", "password": "learner-pass-1", "next": BACK})
        assert response["Location"] == "/dashboard"


class TestBrokenLinks:
    @pytest.mark.parametrize(
        "query",
        [{"platform": "moodle-a", "session": "nope"}, {"platform": "nope", "session": "s-1"}, {"session": "s-1"},
         {"platform": "moodle-a"}, {}, {"platform": "moodle-a", "session": "s-1\x00"}, {"session": "nope\x00"}],
    )  # fmt: skip
    def test_a_link_naming_no_session_is_a_404_page(self, learner_client, a_session, query):
        for visitor in (Client(), learner_client):
            response = visitor.get("/redeem?" + urlencode(query))
            assert response.status_code == 404
            assert "This redeem link is broken" in text(response)

    def test_one_platforms_link_cannot_name_anothers_session(self, learner_client, learner, edx, make_offer, make_code):
        b_session = platform_session(edx, "s-b", "b-2026")
        code = make_code(make_offer(Product.ENROLLMENT, b_session))
        assert learner_client.get(link(code, session="s-b")).status_code == 404
        assert learner_client.post(link(code, session="s-b"), {"code": code}).status_code == 404
        assert not Redemption.objects.exists()
        assert learner_client.post(link(code, platform="edx-b", session="s-b"), {"code": code}).status_code == 303
        assert enrolled(learner, b_session)


class TestTesserasOwnSessions:
    def test_a_link_names_the_session_by_its_slug_and_returns_to_a_local_path(
        self, learner_client, learner, running_session, enrollment_offer, make_code
    ):
        code = make_code(enrollment_offer)
        the_link = link(code, platform="", session="python-2026", return_to="/dashboard")
        assert "Back to where you were" in text(learner_client.get(the_link))
        response = learner_client.post(the_link, {"code": code})
        assert response["Location"] == "/dashboard"
        assert enrolled(learner, running_session)

    def test_a_return_to_elsewhere_is_ignored(self, learner_client, running_session, enrollment_offer, make_code):
        code = make_code(enrollment_offer)
        the_link = link(code, platform="", session="python-2026", return_to=BACK)
        response = learner_client.post(the_link, {"code": code})
        assert response["Location"] == "/courses/python-2026"
