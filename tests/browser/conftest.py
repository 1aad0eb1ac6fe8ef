"""Real-browser fixtures: Playwright drives Debian's Chromium against pytest-django's live server.

One browser for the whole package, a fresh context (cookies, storage) and page per test. Tests
using `page` need `pytest.mark.django_db(transaction=True)`: the live server answers from its own
thread, so it sees only committed rows, and each test's rows are flushed afterwards.

Without /usr/bin/chromium the tests skip with the reason, except under CI=true, where they fail:
`make test` installs it (apt-get install -y chromium) when it runs as root.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Response, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
# Long enough for a cold Chromium on a busy CI machine, short enough that a missing element fails fast.
TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}


def _chromium_missing() -> None:
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does it as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"The browser tests need Chromium under CI=true. {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _chromium_missing()
    # While Playwright's sync API is started it keeps an asyncio loop running in this thread, and
    # Django then refuses every ORM call made here (SynchronousOnlyOperation): the tests' fixtures,
    # their assertions and the flush after each test. Those calls are plain synchronous code, so
    # the guard is lifted for exactly as long as Playwright runs, and only for this package: the
    # rest of the suite keeps it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh page at 1280x900 whose relative URLs go to the live server. A stylesheet or any
    other resource the page loads that answers an error, or that the Content-Security-Policy
    blocks, fails the test."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    broken: list[str] = []
    context.on("response", lambda response: _note_broken(response, broken))
    page = context.new_page()
    # A blocked script, style or image never becomes a request: Chromium says so on the console.
    page.on("console", lambda message: _note_blocked(message, broken))
    yield page
    context.close()
    assert not broken, f"resources that failed to load: {broken}"


def _note_broken(response: Response, broken: list[str]) -> None:
    # Documents may answer 403 or 422 on purpose; the tests check those themselves.
    if response.status >= 400 and response.request.resource_type != "document":
        broken.append(f"{response.status} {response.url}")


def _note_blocked(message: ConsoleMessage, broken: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        broken.append(f"blocked: {message.text}")


@pytest.fixture
def log_in(live_server: LiveServer) -> Callable[[Page, User], None]:
    """Signs `user` in by handing the page a session cookie, quicker than the log-in form (one
    test per journey goes through the form itself)."""

    def log_in(page: Page, user: User) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    return log_in


def log_in_on_the_page(page: Page, username: str, password: str) -> Response:
    """Fills the log-in form the page shows and sends it; answers the page it lands on."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    return submit(page, page.get_by_role("button", name="Log in"))


def submit(page: Page, button: Locator) -> Response:
    """Clicks a form's button and waits for the page it leads to; answers that page's response
    (after a redirect, the last one: `.request.redirected_from` is the POST)."""
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    assert response is not None
    return response


def voucher_form(page: Page, title: str) -> Locator:
    """One of a course page's voucher forms, found by its heading, as a screen reader finds it."""
    return page.get_by_role("region", name=title)


def redeem_on_the_page(page: Page, form_title: str, code: str) -> Response:
    form = voucher_form(page, form_title)
    form.get_by_label("Voucher code").fill(code)
    return submit(page, form.get_by_role("button"))
