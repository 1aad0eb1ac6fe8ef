"""An erased learner's API tokens go with the rest of their personal data: a receiver of
`tessera.vouchers.signals.learner_erasing`, run inside the erasure's transaction."""

from typing import Any

from django.contrib.auth.models import User

from tessera.api.models import ApiToken


def on_learner_erasing(sender: object, *, user: User, **kwargs: Any) -> dict[str, int]:
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return {"api_tokens": deleted}
