"""A redeem link followed in a real browser: from a platform's link (or an email's), through the
log-in form, to the page that shows what the code unlocks, one click, and back to the platform.
The platform is a tiny web server of the test's own, on another origin than Tessera's."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tessera.catalog.models import CourseSession, Enrollment
from tessera.platforms.models import Platform
from tessera.platforms.services import platform_create
from tessera.vouchers.errors import CodeExhausted
from tessera.vouchers.models import Product, Redemption
from tessera.vouchers.services import voucher_redeem
from tests.browser.conftest import log_in_on_the_page, submit
from tests.platform_sessions import platform_session

pytestmark = pytest.mark.django_db(transaction=True)

BACK_PATH = "/course/7?tab=codes"


class PlatformPages(BaseHTTPRequestHandler):
    """Every page of the platform says where the learner is; the server notes what was asked."""

    server: "PlatformServer"

    def do_GET(self) -> None:
        self.server.visited.append(self.path)
        body = b"<!doctype html><title>Moodle A</title><h1>Back on Moodle A</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `visited`."""


class PlatformServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PlatformPages)
        self.visited: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def the_platform() -> Iterator[PlatformServer]:
    server = PlatformServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def moodle(the_platform: PlatformServer) -> Platform:
    prefix = f"{the_platform.url}/course/"
    return platform_create(name="Moodle A", slug="moodle-a", return_urls=[prefix]).platform


@pytest.fixture
def a_session(moodle: Platform) -> CourseSession:
    return platform_session(moodle, "s-1", "a-2026")


@pytest.fixture
def a_code(make_offer, make_code, a_session: CourseSession) -> str:
    return make_code(make_offer(Product.ENROLLMENT, a_session))


def redeem_link(code: str, back: str) -> str:
    return "/redeem?" + urlencode({"platform": "moodle-a", "session": "s-1", "code": code, "return_to": back})


class TestFromTheLinkBackToThePlatform:
    def test_a_learner_logs_in_redeems_in_one_click_and_is_back_on_the_platform(
        self, page: Page, the_platform, learner, a_session, a_code
    ):
        back = the_platform.url + BACK_PATH
        page.goto(redeem_link(a_code, back))
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        landed = log_in_on_the_page(page, "learner", "learner-pass-1")
        assert landed.url.endswith(redeem_link(a_code, back))

        expect(page.get_by_role("heading", name="Redeem a code")).to_be_visible()
        expect(page.get_by_text("This code enrolls you in Course a-2026: a-2026.")).to_be_visible()
        expect(page.get_by_label("Voucher code")).to_have_value(a_code)
        assert not Enrollment.objects.filter(user=learner).exists()

        arrived = submit(page, page.get_by_role("button", name="Redeem"))
        assert arrived.url == back
        assert arrived.request.redirected_from is not None
        assert arrived.request.redirected_from.method == "POST"
        expect(page.get_by_role("heading", name="Back on Moodle A")).to_be_visible()
        assert BACK_PATH in the_platform.visited
        assert Enrollment.objects.get(user=learner).session == a_session

    def test_a_refusal_is_shown_with_the_code_kept_and_the_way_back(
        self, page: Page, log_in, the_platform, learner, other_learner, a_session, a_code
    ):
        voucher_redeem(code=a_code, user=other_learner, session=a_session)
        log_in(page, learner)
        page.goto(redeem_link(a_code, the_platform.url + BACK_PATH))
        refused = submit(page, page.get_by_role("button", name="Redeem"))
        assert refused.status == 422
        field = page.get_by_label("Voucher code")
        expect(page.get_by_role("alert")).to_have_text(CodeExhausted.default_message)
        expect(field).to_have_value(a_code)
        expect(field).to_have_accessible_description(CodeExhausted.default_message)

        page.get_by_role("link", name="Back to Moodle A").click()
        expect(page.get_by_role("heading", name="Back on Moodle A")).to_be_visible()
        assert not Redemption.objects.filter(user=learner).exists()
