"""Reading and sending pages in the web tests: a page's text as a reader sees it, and a form sent
with bytes a browser would never send."""

from html import unescape

from django.http import HttpResponse
from django.test import Client


def text(response: HttpResponse) -> str:
    """The page's HTML with its entities read, so that "don't" is found as typed."""
    return unescape(response.content.decode())


# A lone surrogate as a form carries it: the bytes a lenient encoder writes for U+D800, which are
# not UTF-8. Django reads them as U+FFFD; nothing may fail on them.
SURROGATE_ON_THE_WIRE = "%ED%A0%80"


def post_form(client: Client, url: str, fields: dict[str, str]) -> HttpResponse:
    """Posts the fields as they are, not percent-encoded again (so SURROGATE_ON_THE_WIRE arrives as bytes)."""
    body = "&".join(f"{name}={value}" for name, value in fields.items())
    return client.post(url, body, content_type="application/x-www-form-urlencoded")
