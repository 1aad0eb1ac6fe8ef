"""Redeem links: which session a link names (a platform's only through that platform), and where
it may send the learner back, checked against a table of known tricks and against properties:
whatever is allowed lands, as a browser or the platform's server reads it, under a prefix."""

import re
import string
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains
from urllib3.util import parse_url

from tessera.catalog.models import CourseSession
from tessera.platforms.links import (
    link_target,
    local_return_allowed,
    redeem_links,
    return_origin,
    return_to_allowed,
)
from tessera.platforms.models import Platform
from tessera.platforms.services import Credentials
from tests.platform_sessions import platform_session

PREFIXES = ["https://lms.example/course/", "http://intranet.example:8080/lms", "https://[2001:db8::1]/"]
PLATFORM = Platform(return_urls="\n".join(PREFIXES))
COURSE_PREFIX = "https://lms.example/course/"


def allowed(url: str) -> bool:
    return return_to_allowed(PLATFORM, url)


ALLOWED = [
    "https://lms.example/course/",
    "https://lms.example/course/42",
    "https://lms.example/course/42/unit-3?tab=codes&next=%2Fhome#top",
    "HTTPS://LMS.Example/course/42",  # scheme and host are case-insensitive
    "https://lms.example:443/course/42",  # the default port, named
    "http://intranet.example:8080/lms",
    "http://intranet.example:8080/lms/unit",
    "http://intranet.example:8080/lms?x=1",
    "https://[2001:db8::1]/anything",
    "https://lms.example/course/a%20b",  # an encoded space is a character of the segment
    "https://lms.example/course/x?q=100%25",  # an encoded percent sign in the query
]

REFUSED = [
    "",
    "/course/42",  # a path alone: no platform URL
    "//lms.example/course/",  # scheme-relative
    "//evil.example",
    "https:evil.example",
    "https:/lms.example/course/",
    "https:///lms.example/course/",
    "https://lms.example.evil.example/course/",  # the host as a prefix of another
    "https://evil.example/https://lms.example/course/",
    "https://lmsXexample/course/",
    "https://lms.example./course/",  # a trailing dot is another name
    "https://evil.example#https://lms.example/course/",
    "https://evil.example?https://lms.example/course/",
    "https://lms.example@evil.example/course/",  # user info
    "https://user:pass@lms.example/course/",
    "https://lms.example\\@evil.example/course/",  # a backslash a browser reads as a slash
    "https://lms.example\\course\\",
    "https://lms.example/course\\..\\admin",
    "https://lms.example/course-evil",  # not at a segment boundary
    "https://lms.example/courses/",
    "https://lms.example/Course/",  # paths are case-sensitive
    "https://lms.example/",
    "https://lms.example",
    "http://lms.example/course/",  # another scheme
    "ftp://lms.example/course/",
    "javascript://lms.example/course/%0aalert(1)",
    "https://lms.example:8443/course/",  # another port
    "https://lms.example:0/course/",
    "https://lms.example:abc/course/",
    "https://lms.example:99999/course/",
    "https://lms.example/course/../admin",  # dot segments climb out
    "https://lms.example/course/./../admin",
    "https://lms.example/course/%2e%2e/admin",
    "https://lms.example/course/%2E./admin",
    "https://lms.example/course/..;/admin",
    "https://lms.example/course/;/admin",  # ";x" between slashes: an empty segment, "//", to a server dropping it
    "https://lms.example/course/..",
    "https://lms.example/course/%2F%2Fevil.example",  # encoded slashes
    "https://lms.example/course/%2fevil",
    "https://lms.example/course/%5cevil",  # an encoded backslash
    "https://lms.example/course/%252F%252Fevil.example",  # encoded twice
    "https://lms.example/course//evil.example",  # an empty segment
    "https://lms.example/course/x\r\nSet-Cookie: a=b",  # CR/LF
    "https://lms.example/course/x%0d%0aSet-Cookie:a=b",
    "https://lms.example/course/?next=%0d%0a",
    "https://lms.example/course/%00",
    "https://lms.example/course/\x00",
    "https://lms.example/course/\t",
    " https://lms.example/course/",  # spaces a parser would strip
    "https://lms.example/course/ ",
    "\x01https://lms.example/course/",
    "https://lms.example/course/a b",
    'https://lms.example/course/"><script>',
    "https://lms.example/course/<x>",
    "https://lm\u0455.example/course/",  # a Cyrillic s
    "https://lms.example/course/é",
    "https://lms.\u0435xample/course/",  # a Cyrillic e
    "https://%6cms.example/course/",  # an encoded host
    "https://lms.example%2f.evil.example/course/",
    "https://[2001:db8::1/",
    "https://[2001:db8::2]/",
    "https://lms.example/course/" + "x" * 2000,
]


@pytest.mark.parametrize("url", ALLOWED)
def test_a_url_under_a_prefix_is_allowed(url: str) -> None:
    assert allowed(url)


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_a_parser_may_read_elsewhere_is_refused(url: str) -> None:
    assert not allowed(url)


def test_a_platform_without_return_urls_allows_none() -> None:
    assert not return_to_allowed(Platform(return_urls=""), "https://lms.example/course/")


def test_a_prefix_line_may_carry_spaces_and_a_bad_one_allows_nothing() -> None:
    platform = Platform(return_urls="  https://lms.example/course/  \r\nnot a url\n//evil.example\n\n")
    assert return_to_allowed(platform, "https://lms.example/course/1")
    assert not return_to_allowed(platform, "https://evil.example/")


def test_a_prefix_naming_a_host_alone_allows_its_whole_site() -> None:
    platform = Platform(return_urls="https://lms.example")
    assert return_to_allowed(platform, "https://lms.example/")
    assert return_to_allowed(platform, "https://lms.example/any/path")
    assert not return_to_allowed(platform, "https://lms.example.evil.example/")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://lms.example/course/7?x=1", "https://lms.example"),
        ("HTTPS://LMS.example:443/course/", "https://lms.example"),
        ("http://intranet.example:8080/lms", "http://intranet.example:8080"),
        ("https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443"),
        ("/dashboard", None),
        ("https://lms.example/course/; script-src *", None),
        ("https://lms.example/course/%0d%0a", None),
    ],
)
def test_the_origin_of_a_return_url_is_its_scheme_host_and_port(url: str, origin: str | None) -> None:
    assert return_origin(url) == origin


# --- properties -------------------------------------------------------------------------------


def as_a_server_reads_it(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and path as a lenient reader would take them: urllib3's parser (which
    removes dot segments), then the path decoded until nothing changes, backslashes read as
    slashes, ";params" dropped, and dot segments removed again."""
    parsed = parse_url(url)
    path = parsed.path or "/"
    while (decoded := unquote(path)) != path:
        path = decoded
    segments = [segment.split(";")[0] for segment in path.replace("\\", "/").split("/")]
    kept: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            kept = kept[:-1]
        elif segment != ".":
            kept.append(segment)
    climbed = segments[-1] in (".", "..")
    resolved = "/" + "/".join(kept) + ("/" if climbed and kept else "")
    return (parsed.scheme or "", (parsed.host or "").lower(), parsed.port, resolved)


def lands_under_course_prefix(url: str) -> bool:
    scheme, host, port, path = as_a_server_reads_it(url)
    control = re.search(r"[\x00-\x1f\x7f]", unquote(url))
    return (
        (scheme, host, port or 443) == ("https", "lms.example", 443)
        and path.startswith("/course/")
        and "//" not in path
        and control is None
    )


# Pieces of URLs that parsers are known to disagree on.
TRICKY = st.sampled_from(
    [
        "/", "//", "\\", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "%0d", "%0a", "%00", ";",
        "@", ":", "?", "#", "&", "=", " ", "\t", "\r\n", "\x00", "é", "evil.example", "lms.example",
        "https:", "http:", ":443", ":8443", "course", "x", "%41",
    ]
)  # fmt: skip
TAILS = st.lists(st.one_of(TRICKY, st.text(max_size=3)), max_size=12).map("".join)
URLS = st.lists(TRICKY, max_size=14).map("".join)


@settings(max_examples=400)
@given(tail=TAILS)
def test_whatever_follows_the_prefix_lands_under_it_if_allowed(tail: str) -> None:
    url = COURSE_PREFIX + tail
    if allowed(url):
        assert lands_under_course_prefix(url), url


@settings(max_examples=400)
@given(start=st.sampled_from(["", "https:", "https://", "https://lms.example"]), rest=URLS)
def test_any_url_allowed_lands_under_a_prefix(start: str, rest: str) -> None:
    url = start + rest
    if allowed(url) and parse_url(url).host == "lms.example":
        assert lands_under_course_prefix(url), url


UNRESERVED = string.ascii_letters + string.digits + "-_~"
SEGMENT = st.text(alphabet=st.sampled_from(UNRESERVED), min_size=1)
QUERY = st.lists(st.sampled_from(["a", "z", "0", "9", "=", "&", "+", "-", "_", "%2F", "%41"]), max_size=10).map("".join)


@given(segments=st.lists(SEGMENT, max_size=6), query=QUERY, fragment=SEGMENT)
def test_every_plain_path_under_the_prefix_is_allowed(segments: list[str], query: str, fragment: str) -> None:
    assert allowed(f"{COURSE_PREFIX}{'/'.join(segments)}?{query}#{fragment}")


@given(host=domains(), path=st.lists(SEGMENT, max_size=3).map("/".join))
def test_no_other_host_is_allowed(host: str, path: str) -> None:
    for url in (f"https://{host}/course/{path}", f"https://lms.example.{host}/course/{path}"):
        assert not allowed(url) or host.lower() == "lms.example", url


@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=4),
    where=st.integers(min_value=0),
    inserted=st.sampled_from(["\\", " ", "\t", "\r", "\n", "\x00", "\x7f", "<", '"', "`", "é", "%0a", "%2f", "//"]),
)
def test_a_character_parsers_read_differently_refuses_the_url_wherever_it_is(
    segments: list[str], where: int, inserted: str
) -> None:
    url = COURSE_PREFIX + "/".join(segments)
    at = len("https://") + where % (len(url) - len("https://") + 1)
    assert not allowed(url[:at] + inserted + url[at:])


# --- Tessera's own sessions: a local path only ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/dashboard", True),
        ("/courses/python-2026?x=1", True),
        ("https://testserver/dashboard", False),  # a path, not a URL, even to this host
        ("//evil.example/", False),
        ("/\\evil.example/", False),
        ("\\\\evil.example", False),
        ("https://evil.example/", False),
        ("dashboard", False),
        ("/x\r\nSet-Cookie: a=b", False),
        ("/x%0d%0a", False),
        ("", False),
    ],
)
def test_a_link_to_a_tessera_session_returns_only_to_a_local_path(url: str, expected: bool) -> None:
    assert local_return_allowed(url, host="testserver", secure=False) is expected


# --- which session a link names ---------------------------------------------------------------


class TestLinkTarget:
    def test_a_platform_names_its_session_by_external_id(self, platform_a: Credentials) -> None:
        session = platform_session(platform_a.platform, "s-1", "a-session")
        target = link_target(platform="moodle-a", session="s-1")
        assert target is not None
        assert target.session == session
        assert target.platform == platform_a.platform

    def test_one_platform_cannot_name_anothers_session(self, platform_a: Credentials, platform_b: Credentials) -> None:
        platform_session(platform_b.platform, "s-b", "b-session")
        assert link_target(platform="moodle-a", session="s-b") is None
        assert link_target(platform="edx-b", session="s-b") is not None

    def test_the_same_external_id_on_two_platforms_names_two_sessions(
        self, platform_a: Credentials, platform_b: Credentials
    ) -> None:
        on_a = platform_session(platform_a.platform, "same", "on-a")
        on_b = platform_session(platform_b.platform, "same", "on-b")
        assert getattr(link_target(platform="moodle-a", session="same"), "session", None) == on_a
        assert getattr(link_target(platform="edx-b", session="same"), "session", None) == on_b

    def test_tesseras_own_session_is_named_by_its_slug(self, running_session: CourseSession) -> None:
        target = link_target(platform="", session="python-2026")
        assert target is not None
        assert (target.session, target.platform) == (running_session, None)

    def test_a_platforms_session_is_not_named_without_its_platform(self, platform_a: Credentials) -> None:
        platform_session(platform_a.platform, "s-1", "a-session")
        assert link_target(platform="", session="a-session") is None

    @pytest.mark.parametrize(
        ("platform", "session"),
        [("moodle-a", "nope"), ("nope", "s-1"), ("", "nope"), ("", ""), ("moodle-a", ""), ("moodle-a", "s\x00"),
         ("moodle\x00", "s-1"), ("", "python\x00"), ("moodle-a", "s" * 256), ("m" * 41, "s-1")],
    )  # fmt: skip
    def test_anything_else_names_nothing(
        self, platform_a: Credentials, running_session: CourseSession, platform: str, session: str
    ) -> None:
        platform_session(platform_a.platform, "s-1", "a-session")
        assert link_target(platform=platform, session=session) is None


# --- the links Tessera makes (printed cards) --------------------------------------------------


class TestRedeemLinks:
    def test_tesseras_own_session_by_its_slug_and_read_back_to_it(self, running_session: CourseSession) -> None:
        link = redeem_links(running_session, base="https://tessera.example")("HMJQ-FY1G")
        assert link == "https://tessera.example/redeem?session=python-2026&code=HMJQ-FY1G"
        assert getattr(link_target(platform="", session="python-2026"), "session", None) == running_session

    def test_a_platforms_session_through_its_platform_and_external_id(self, platform_a: Credentials) -> None:
        session = platform_session(platform_a.platform, "py 101/spring", "a-session")
        link = redeem_links(session, base="https://t.example/vouchers")("HMJQ")
        assert link == "https://t.example/vouchers/redeem?platform=moodle-a&session=py+101%2Fspring&code=HMJQ"
        query = parse_qs(urlsplit(link).query)
        target = link_target(platform=query["platform"][0], session=query["session"][0])
        assert getattr(target, "session", None) == session
