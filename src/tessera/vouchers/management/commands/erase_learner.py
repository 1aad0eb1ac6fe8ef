from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tessera.core.errors import DomainError
from tessera.vouchers.management.base import user_named
from tessera.vouchers.services.privacy import learner_erase


class Command(BaseCommand):
    help = (
        "Erase a learner's personal data (name, email, password, sessions, API tokens, addresses); "
        "their redemptions, enrollments and audit trail stay, under the user id."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("user", help="username of the learner")

    def handle(self, *args: Any, user: str, **opts: Any) -> None:
        learner = user_named(user)
        try:
            counts = learner_erase(user=learner, actor="cli")
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        changed = ", ".join(f"{what.replace('_', ' ')}: {count}" for what, count in counts.items())
        self.stdout.write(f"Erased {user}: now {learner.username} (user id {learner.pk}). Cleared {changed}.")
