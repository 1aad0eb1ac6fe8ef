from typing import Any

from django.core.management.base import BaseCommand

from tessera.vouchers.management.base import parse_moment
from tessera.vouchers.services.privacy import address_cutoff, address_purge
from tessera.vouchers.tasks import address_purge_schedule


class Command(BaseCommand):
    help = (
        "Forget client addresses older than TESSERA_ADDRESS_RETENTION_DAYS (the task worker does "
        "this daily); --dry-run only counts."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be purged, change nothing")
        parser.add_argument("--before", help="purge addresses stored before this ISO date instead")
        parser.add_argument(
            "--schedule", action="store_true", help="only queue the daily purge for the task worker (idempotent)"
        )

    def handle(self, *args: Any, dry_run: bool, before: str | None, schedule: bool, **opts: Any) -> None:
        if schedule:
            queued = address_purge_schedule()
            self.stdout.write("Daily address purge queued." if queued else "Daily address purge already queued.")
            return
        cutoff = parse_moment(before, field="--before") if before else address_cutoff()
        counts = address_purge(before=cutoff, actor="cli", dry_run=dry_run)
        done = "Would purge" if dry_run else "Purged"
        self.stdout.write(f"{done} addresses stored before {cutoff:%Y-%m-%d %H:%M} UTC:")
        for what, count in counts.items():
            self.stdout.write(f"  {what.replace('_', ' ')}: {count}")
