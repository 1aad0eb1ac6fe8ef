"""Migration 0003: sessions that platforms created before CourseSession.source existed are marked as
theirs, and no other session is."""

import importlib

import pytest
from django.apps import apps

from tessera.catalog.models import CourseSession

PLATFORM, TESSERA = CourseSession.Source.PLATFORM, CourseSession.Source.TESSERA


@pytest.mark.django_db
def test_a_platforms_sessions_are_marked_and_tesseras_own_are_not(
    platform_a, events_session, running_session: CourseSession
) -> None:
    theirs = events_session(platform_a).session
    CourseSession.objects.update(source=TESSERA)  # as every session was before the field
    migration = importlib.import_module("tessera.platforms.migrations.0003_session_source")
    migration.mark_platform_sessions(apps, None)
    assert dict(CourseSession.objects.values_list("pk", "source")) == {theirs.pk: PLATFORM, running_session.pk: TESSERA}
