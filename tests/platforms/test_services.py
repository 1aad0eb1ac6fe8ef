"""Registering platforms: checked input, secrets shown once and stored hashed, every change audited."""

import pytest
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import Application

from tessera.core.errors import InvalidInput
from tessera.platforms.models import Platform
from tessera.platforms.services import platform_create, platform_secret_rotate, platform_settings_change
from tessera.vouchers.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_platform_is_a_confidential_client_credentials_client_whose_secret_is_kept_hashed() -> None:
    credentials = platform_create(name="Moodle", actor="user:1")
    application = Application.objects.get(platform=credentials.platform)
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert application.client_secret != credentials.client_secret
    assert check_password(credentials.client_secret, application.client_secret)  # a password hash of it
    assert credentials.platform.slug == "moodle"
    event = AuditEvent.objects.get(action=AuditEvent.Action.PLATFORM_CREATED)
    assert (event.actor, event.detail["platform_id"]) == ("user:1", credentials.platform.pk)
    assert credentials.client_secret not in str(event.detail)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "X", "slug": "Not A Slug"}, "slug"),
        ({"name": "X", "scopes": ["admin"]}, "scopes"),
        ({"name": "X", "scopes": []}, "scopes"),
        ({"name": "X", "return_urls": ["javascript:alert(1)"]}, "return_urls"),
        ({"name": "X", "return_urls": ["/relative"]}, "return_urls"),
        ({"name": "X", "return_urls": ["https://user:pw@lms.example/"]}, "return_urls"),
        ({"name": "X", "return_urls": ["https://lms.example/course/?id=1"]}, "return_urls"),
        ({"name": "X", "return_urls": ["https://lms.example/course/#top"]}, "return_urls"),
        ({"name": "X", "return_urls": ["https://lms.example/a/../b/"]}, "return_urls"),
        ({"name": "X", "return_urls": ["https://lms.example/a%2Fb/"]}, "return_urls"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        platform_create(**fields)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert not Platform.objects.exists()
    assert not Application.objects.exists()


def test_names_and_slugs_are_unique() -> None:
    platform_create(name="Moodle")
    with pytest.raises(InvalidInput, match="named"):
        platform_create(name="Moodle", slug="other")
    with pytest.raises(InvalidInput, match="slug"):
        platform_create(name="Other", slug="moodle")


def test_rotating_the_secret_is_audited_and_hashes_the_new_one() -> None:
    credentials = platform_create(name="Moodle")
    rotated = platform_secret_rotate(platform=credentials.platform, actor="cli")
    assert rotated.client_id == credentials.client_id
    assert rotated.client_secret != credentials.client_secret
    application = Application.objects.get(pk=credentials.platform.application_id)
    assert check_password(rotated.client_secret, application.client_secret)
    assert not check_password(credentials.client_secret, application.client_secret)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PLATFORM_SECRET, actor="cli").count() == 1


def test_a_settings_change_logs_what_changed_and_an_empty_one_logs_nothing() -> None:
    platform = platform_create(name="Moodle").platform
    platform_settings_change(platform=platform)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PLATFORM_CHANGED).exists()
    platform_settings_change(platform=platform, scopes=["redeem", "events"], return_urls=["https://lms.example/"])
    platform.refresh_from_db()
    assert platform.scope_set == {"redeem", "events"}
    assert platform.return_urls == "https://lms.example/"
    event = AuditEvent.objects.get(action=AuditEvent.Action.PLATFORM_CHANGED)
    assert event.detail["changed"] == {"scopes": "events redeem", "return_urls": ["https://lms.example/"]}
