"""One platform's catalog writes racing, for real: threads with their own database connections.
The claims are PostgreSQL's to prove (an advisory lock per platform); on SQLite, IMMEDIATE
transactions queue the writers."""

from collections import Counter
from datetime import datetime

import pytest

from tessera.catalog.models import CourseSession
from tessera.platforms.catalog import session_upsert
from tessera.platforms.models import Platform
from tessera.platforms.services import Credentials
from tessera.vouchers.models import AuditEvent
from tests.concurrency import race
from tests.platforms.test_catalog import ACTOR, course, running, session


@pytest.fixture
def a(platform_a: Credentials) -> Platform:
    return platform_a.platform


@pytest.mark.django_db(transaction=True)
class TestConcurrentUpserts:
    """One platform's catalog writes queue behind each other (PostgreSQL: an advisory lock per
    platform; SQLite: one writer at a time)."""

    def test_eight_upserts_of_one_new_session_create_it_once(self, a: Platform, now: datetime) -> None:
        course(a)

        def upsert() -> bool:
            return session_upsert(
                platform=a, course_external_id="py101", external_id="new", session=running(now), actor=ACTOR
            ).created

        assert race([upsert] * 8, connect_first=True) == Counter({"True": 1, "False": 7})
        assert CourseSession.objects.count() == 1
        assert AuditEvent.objects.filter(action="session_created").count() == 1

    def test_concurrent_changes_are_logged_one_after_the_other(self, a: Platform, now: datetime) -> None:
        course(a)
        session(a, running(now))
        outcomes = race(
            [lambda capacity=capacity: session(a, running(now, capacity=capacity)) for capacity in range(1, 9)],
            success="changed", connect_first=True,
        )  # fmt: skip
        assert outcomes == Counter({"changed": 8})
        changes = [row.detail["changed"]["capacity"] for row in AuditEvent.objects.filter(action="session_changed")]
        assert [old for old, _ in changes] == [None] + [new for _, new in changes[:-1]]
        assert CourseSession.objects.get().capacity == changes[-1][1]
