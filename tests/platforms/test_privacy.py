"""Erasing a platform's learner removes the platform's id of them."""

import pytest

from tessera.platforms.learners import platform_learner
from tessera.platforms.models import PlatformLearner
from tessera.vouchers.models import AuditEvent
from tessera.vouchers.services.privacy import learner_erase

pytestmark = pytest.mark.django_db


def test_erasing_a_learner_removes_their_platform_id_and_a_later_call_makes_a_new_learner(platform_a) -> None:
    erased = platform_learner(platform=platform_a.platform, external_id="1234")
    learner_erase(user=erased, actor="cli")
    assert not PlatformLearner.objects.filter(platform=platform_a.platform, external_id="1234").exists()
    assert AuditEvent.objects.get(action=AuditEvent.Action.ERASED).detail["changed"]["platform_learners"] == 1
    again = platform_learner(platform=platform_a.platform, external_id="1234")
    assert again.pk != erased.pk
    assert again.is_active
