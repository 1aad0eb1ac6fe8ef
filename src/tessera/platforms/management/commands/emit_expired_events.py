from typing import Any

from tessera.platforms.events import reactivations_expire
from tessera.vouchers.management.base import VoucherCommand


class Command(VoucherCommand):
    help = (
        "Write an entitlement.expired event for each reactivation on a platform's session whose end has passed "
        "(the task worker does so every minute; this is for installations that run no worker). Safe beside it."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        told = reactivations_expire()
        self.stdout.write(f"{told} reactivation end{'s' if told != 1 else ''} told.")
