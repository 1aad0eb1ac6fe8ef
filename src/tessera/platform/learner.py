"""The learner's side of the platform API: check a code, redeem it, list what I have."""

from ninja import Router

from tessera.platform.auth import USER_AUTH

router = Router(auth=USER_AUTH, tags=["learner"])
