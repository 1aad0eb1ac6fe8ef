"""Staff endpoints of the platform API: offers, batches, codes, statistics and exports."""

from ninja import Router

from tessera.platform.auth import USER_AUTH

router = Router(auth=USER_AUTH, tags=["staff"])
