"""`tessera emit-expired-events`: an entitlement.expired event for each reactivation whose end has
passed, told once, for installations that run no task worker."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from tessera.platforms.models import PlatformEvent, PlatformReactivation
from tessera.platforms.services import Credentials
from tests.commands import run_command

pytestmark = pytest.mark.django_db

Reactivated = Callable[[int], datetime]


def ends_told(credentials: Credentials) -> int:
    return PlatformEvent.objects.filter(
        platform=credentials.platform, type=PlatformEvent.Type.ENTITLEMENT_EXPIRED
    ).count()


class TestEmitExpiredEvents:
    def test_tells_the_ends_that_have_passed(self, platform_a: Credentials, reactivated: Reactivated) -> None:
        until = reactivated(2)
        PlatformReactivation.objects.update(until=until - timedelta(weeks=60))  # as if a year had passed
        assert run_command("emit_expired_events") == "2 reactivation ends told.\n"
        assert ends_told(platform_a) == 2

    def test_tells_each_end_once(self, platform_a: Credentials, reactivated: Reactivated) -> None:
        until = reactivated(1)
        PlatformReactivation.objects.update(until=until - timedelta(weeks=60))
        assert run_command("emit_expired_events") == "1 reactivation end told.\n"
        assert run_command("emit_expired_events") == "0 reactivation ends told.\n"
        assert ends_told(platform_a) == 1

    def test_leaves_a_reactivation_still_running_untold(
        self, platform_a: Credentials, reactivated: Reactivated
    ) -> None:
        reactivated(1)
        assert run_command("emit_expired_events") == "0 reactivation ends told.\n"
        assert ends_told(platform_a) == 0
