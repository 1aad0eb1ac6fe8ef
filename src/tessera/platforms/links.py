"""Redeem links: the course session a link names, and where it may send the learner back.

A platform's link reads /redeem?platform=<slug>&session=<external id>&code=...&return_to=<url>;
a session's external id is unique only within its platform, so the link names both. One of
Tessera's own sessions (no platform) is named by its slug alone: /redeem?session=<slug>.

`return_to` is followed only if it lies under one of the platform's return URL prefixes, read
the way a browser and the platform's server would read it (docs/platforms.md#redeem-links):
same scheme, host and port, and a path under the prefix's path at a segment boundary. Anything
that reads differently in one parser than in another is refused rather than interpreted: a
backslash, a space or control character, user info, a dot segment, an encoded slash,
backslash or percent sign in the path, an encoded control character anywhere.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from tessera.catalog.models import CourseSession
from tessera.catalog.selectors import session_by_slug
from tessera.core.errors import InvalidInput
from tessera.platforms.models import Platform, PlatformSession

MAX_URL = 2000
DEFAULT_PORTS = {"https": 443, "http": 80}
# RFC 3986's characters, nothing else: browsers strip tabs and newlines, turn backslashes into
# slashes and encode spaces and quotes, so a URL holding any other character is not the one
# they would follow.
URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
# A host by name or IPv4 address, or an IPv6 literal (which urlsplit answers without brackets).
HOST_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
IPV6 = re.compile(r"[0-9a-f:.]+")
# An encoded control character, anywhere: a server that decodes it may split a header on it.
ENCODED_CONTROL = re.compile(r"%(?:[01][0-9a-f]|7f)", re.IGNORECASE)
# An encoded slash, backslash or percent sign in the path: a server that decodes the path (once
# or twice) may read more segments, or other ones, than were checked.
ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c|25)", re.IGNORECASE)


@dataclass(frozen=True)
class LinkTarget:
    """What a redeem link names: a session, and the platform it belongs to (None: Tessera's own)."""

    session: CourseSession
    platform: Platform | None


def link_target(*, platform: str, session: str) -> LinkTarget | None:
    """The session a link names, or None for a broken link: an unknown platform or session,
    another platform's session, or a platform's session named without its platform."""
    if not _plain(session, 255) or (platform and not _plain(platform, 40)):
        return None
    if platform:
        found = (
            PlatformSession.objects.select_related("platform", "session__course")
            .filter(platform__slug=platform, external_id=session)
            .first()
        )
        return LinkTarget(session=found.session, platform=found.platform) if found else None
    try:
        own = session_by_slug(session)
    except InvalidInput:
        return None
    if PlatformSession.objects.filter(session_id=own.pk).exists():
        return None  # a platform's session is named through its platform
    return LinkTarget(session=own, platform=None)


def redeem_links(session: CourseSession, *, base: str) -> Callable[[str], str]:
    """The absolute redeem link of a code for `session`, as link_target reads it back: a
    platform's session named through its platform and external id, one of Tessera's own by its
    slug. Looked up once, for all the codes of a batch. `base` is the site's public address
    (TESSERA_PUBLIC_URL), without a trailing slash."""
    found = PlatformSession.objects.select_related("platform").filter(session_id=session.pk).first()
    names = {"platform": found.platform.slug, "session": found.external_id} if found else {"session": session.slug}
    start = f"{base}{reverse('web:redeem')}?{urlencode(names)}"
    return lambda code: f"{start}&{urlencode({'code': code})}"


def _plain(text: str, longest: int) -> bool:
    # PostgreSQL's text cannot hold NUL; a query with one would fail rather than find nothing.
    return 0 < len(text) <= longest and "\x00" not in text


def return_to_allowed(platform: Platform, url: str) -> bool:
    """Whether a redeem link may send the learner to `url`: under one of the platform's return
    URL prefixes (Platform.return_urls, one a line)."""
    place = _place(url)
    if place is None:
        return False
    prefixes = (_place(line.strip()) for line in platform.return_urls.splitlines())
    return any(_under(place, prefix) for prefix in prefixes if prefix)


def return_prefix_usable(url: str) -> bool:
    """Whether `url` can serve as a return URL prefix: one that return_to_allowed can match, so
    a platform's mistake shows when the prefix is saved, not as links that never return."""
    parts = urlsplit(url)
    return not parts.query and not parts.fragment and _place(url) is not None


def return_origin(url: str) -> str | None:
    """The origin (scheme, host and port) of an absolute return URL, None for a path or a URL
    that is not plain. The redeem page's Content-Security-Policy names it: browsers hold the
    redirect that answers a form's POST to the page's form-action too."""
    place = _place(url)
    if place is None:
        return None
    host = f"[{place.host}]" if ":" in place.host else place.host
    port = "" if place.port == DEFAULT_PORTS[place.scheme] else f":{place.port}"
    return f"{place.scheme}://{host}{port}"


def local_return_allowed(url: str, *, host: str, secure: bool) -> bool:
    """Whether a link to one of Tessera's own sessions may send the learner to `url`: a path on
    this site only ("/dashboard"), never another host."""
    return (
        url.startswith("/")
        and len(url) <= MAX_URL
        and URL_CHARACTERS.fullmatch(url) is not None
        and ENCODED_CONTROL.search(url) is None
        and url_has_allowed_host_and_scheme(url, allowed_hosts={host}, require_https=secure)
    )


@dataclass(frozen=True)
class _Place:
    """What a URL's destination is: its origin and path."""

    scheme: str
    host: str
    port: int
    path: str


def _place(url: str) -> _Place | None:
    """The URL's origin and path, or None if it is no plain absolute http(s) URL or could be read
    in more than one way."""
    if not url or len(url) > MAX_URL or not URL_CHARACTERS.fullmatch(url) or ENCODED_CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number
        return None
    host = parts.hostname or ""
    if parts.scheme not in DEFAULT_PORTS or "@" in parts.netloc or not _host_plain(host, parts.netloc):
        return None
    path = parts.path or "/"
    if not _path_plain(path):
        return None
    return _Place(scheme=parts.scheme, host=host, port=DEFAULT_PORTS[parts.scheme] if port is None else port, path=path)


def _host_plain(host: str, netloc: str) -> bool:
    return (IPV6 if "[" in netloc else HOST_NAME).fullmatch(host) is not None


def _path_plain(path: str) -> bool:
    if "//" in path or ENCODED_SEPARATOR.search(path):
        return False
    # "..", ".%2E", "..;x" (which some servers read as ".."): a browser or server would climb out;
    # and ";x" alone between slashes, which such a server reads as an empty segment, "//".
    segments = [unquote(segment.split(";")[0]) for segment in path.split("/")]
    inner = segments[1:-1]
    return not any(segment in (".", "..") for segment in segments) and all(inner)


def _under(place: _Place, prefix: _Place) -> bool:
    if (place.scheme, place.host, place.port) != (prefix.scheme, prefix.host, prefix.port):
        return False
    if prefix.path.endswith("/"):
        return place.path.startswith(prefix.path)
    return place.path == prefix.path or place.path.startswith(prefix.path + "/")
