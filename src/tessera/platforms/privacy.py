"""The platforms' part of erasing a learner: a receiver of `tessera.vouchers.signals.learner_erasing`,
run inside the erasure's transaction (tessera.vouchers.services.privacy)."""

from typing import Any

from django.contrib.auth.models import User

from tessera.platforms.models import PlatformLearner


def on_learner_erasing(sender: object, *, user: User, **kwargs: Any) -> dict[str, int]:
    """The platform's id of the learner goes: it names a person, and kept, the platform's next
    call with it would act for the erased account. A later call with that id makes a new learner."""
    removed, _ = PlatformLearner.objects.filter(user=user).delete()
    return {"platform_learners": removed}
