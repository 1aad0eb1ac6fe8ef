"""Platforms: registering one as an OAuth 2.0 client, rotating its secret, its settings."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.utils.text import slugify
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application

from tessera.core.errors import InvalidInput
from tessera.core.validation import fits_text
from tessera.platforms.links import return_prefix_usable
from tessera.platforms.models import SCOPES, Platform
from tessera.vouchers.audit import audit_record
from tessera.vouchers.models import AuditEvent


@dataclass(frozen=True)
class Credentials:
    """What a platform's server signs in with; the secret exists in plain form only here."""

    platform: Platform
    client_id: str
    client_secret: str


def platform_create(
    *,
    name: str,
    slug: str = "",
    scopes: Iterable[str] = tuple(SCOPES),
    return_urls: Iterable[str] = (),
    actor: str = "system",
) -> Credentials:
    """A platform with its OAuth client (client credentials); the secret is answered once and
    kept only as django-oauth-toolkit's hash."""
    name = _name_checked(name)
    slug = _slug_checked(slug or slugify(name))
    scope_text = _scopes_checked(scopes)
    urls = _return_urls_checked(return_urls)
    secret = generate_client_secret()
    with transaction.atomic():
        application = Application.objects.create(
            name=f"platform {slug}", client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret=secret,
            hash_client_secret=True,
        )  # fmt: skip
        platform = Platform.objects.create(
            name=name, slug=slug, application=application, scopes=scope_text, return_urls="\n".join(urls)
        )
        audit_record(
            action=AuditEvent.Action.PLATFORM_CREATED, actor=actor, platform_id=platform.pk, name=name,
            scopes=scope_text,
        )  # fmt: skip
    return Credentials(platform=platform, client_id=application.client_id, client_secret=secret)


def platform_secret_rotate(*, platform: Platform, actor: str = "system") -> Credentials:
    """A new client secret; the old one stops working at once, and so do the access tokens
    issued under it."""
    secret = generate_client_secret()
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=platform.application_id)
        application.client_secret = secret
        application.save(update_fields=["client_secret"])
        revoked, _ = AccessToken.objects.filter(application=application).delete()
        audit_record(
            action=AuditEvent.Action.PLATFORM_SECRET, actor=actor, platform_id=platform.pk, tokens_revoked=revoked
        )
    return Credentials(platform=platform, client_id=application.client_id, client_secret=secret)


def platform_settings_change(
    *,
    platform: Platform,
    scopes: Iterable[str] | None = None,
    return_urls: Iterable[str] | None = None,
    actor: str = "system",
) -> Platform:
    """Scopes and return URLs; only what is given changes, and a change is logged."""
    changed: dict[str, object] = {}
    if scopes is not None:
        platform.scopes = changed.setdefault("scopes", _scopes_checked(scopes))  # type: ignore[assignment]
    if return_urls is not None:
        platform.return_urls = "\n".join(_return_urls_checked(return_urls))
        changed["return_urls"] = platform.return_urls.splitlines()
    if changed:
        with transaction.atomic():
            platform.save(update_fields=[field for field in ("scopes", "return_urls") if field in changed])
            audit_record(
                action=AuditEvent.Action.PLATFORM_CHANGED, actor=actor, platform_id=platform.pk, changed=changed
            )
    return platform


def _name_checked(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("A platform needs a name.", field="name")
    fits_text(Platform, "name", name)
    if Platform.objects.filter(name=name).exists():
        raise InvalidInput(f"There is a platform named {name!r} already.", field="name")
    return name


def _slug_checked(slug: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug):
        raise InvalidInput("A platform's slug is 1 to 40 lower-case letters, digits and hyphens.", field="slug")
    if Platform.objects.filter(slug=slug).exists():
        raise InvalidInput(f"There is a platform with the slug {slug!r} already.", field="slug")
    return slug


def _scopes_checked(scopes: Iterable[str]) -> str:
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        raise InvalidInput(f"Unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}.", field="scopes")
    if not chosen:
        raise InvalidInput("A platform needs at least one scope.", field="scopes")
    return " ".join(chosen)


def _return_urls_checked(urls: Iterable[str]) -> list[str]:
    """Absolute http(s) URL prefixes with a host; a redeem link returns only to one of them."""
    checked = []
    for url in (url.strip() for url in urls):
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
            raise InvalidInput(f"{url!r} is no absolute http(s) URL.", field="return_urls")
        if not return_prefix_usable(url):
            raise InvalidInput(
                f"{url!r} cannot be a return URL prefix: no query, fragment, dot segments or encoded slashes.",
                field="return_urls",
            )
        checked.append(url)
    return checked
