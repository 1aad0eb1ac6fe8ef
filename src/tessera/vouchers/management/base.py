"""Shared by the voucher commands: the vouchers-off check, DomainError → CommandError, and the
one way the shop and platform commands set webhooks."""

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from tessera.core import users
from tessera.core.errors import DomainError, InvalidInput
from tessera.vouchers import config


class VoucherCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        if not config.vouchers_enabled():
            raise CommandError("Vouchers are disabled on this platform (TESSERA_VOUCHERS=off).")
        try:
            return super().execute(*args, **options)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None


def parse_moment(text: str, *, field: str) -> datetime:
    """An ISO date or date-time; a bare date means the end of that day (UTC), naive means UTC."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"invalid_input: {field} {text!r} is not an ISO date (YYYY-MM-DD).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def user_named(username: str) -> User:
    try:
        return users.user_named(username)
    except InvalidInput as error:
        raise CommandError(f"{error.code}: {error.message}") from None


class WebhookCommand(VoucherCommand):
    """`set-shop-webhook` and `set-platform-webhook`: point a receiver's webhooks at a URL (the
    signing secret printed when made or rotated), or turn them off. A subclass names its receiver
    (`receiver`: how the argument reads, `find`: the row it names) and the two services."""

    receiver = "receiver"
    receiver_help = ""
    off_help = ""

    def find(self, name: str) -> Any:
        raise NotImplementedError

    def webhook_set(self, found: Any, *, url: str | None, rotate_secret: bool) -> str | None:
        raise NotImplementedError

    def webhook_off(self, found: Any) -> None:
        raise NotImplementedError

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(self.receiver, help=self.receiver_help)
        parser.add_argument("url", nargs="?", help="http or https URL the events are POSTed to")
        parser.add_argument("--rotate-secret", action="store_true", help="make a new signing secret")
        parser.add_argument("--off", action="store_true", help=self.off_help)

    def handle(self, *args: Any, url: str | None, rotate_secret: bool, off: bool, **opts: Any) -> None:
        found = self.find(opts[self.receiver])
        if off:
            if url is not None or rotate_secret:
                raise CommandError("invalid_input: --off takes no URL and no --rotate-secret.")
            self.webhook_off(found)
            self.stdout.write(f"Webhooks to {found.name!r} are off.")
            return
        if url is None and not rotate_secret:
            raise CommandError("invalid_input: name a URL, --rotate-secret or --off.")
        secret = self.webhook_set(found, url=url, rotate_secret=rotate_secret)
        self.stdout.write(f"Webhooks to {found.name!r} go to {found.webhook_url or '(no URL yet)'}.")
        if secret:
            self.stdout.write(f"Its signing secret, shown only now:\n{secret}")
        else:
            self.stdout.write("Its signing secret is unchanged (--rotate-secret makes a new one).")


class MailCommand(VoucherCommand):
    """The commands that mail codes (send-codes, resend-codes, remind-codes, withdraw-assignment):
    the batch they name, and the mail job they queue, sent by the task worker or, with --now, here."""

    def add_now(self, parser: Any) -> None:
        parser.add_argument(
            "--now", action="store_true", help="send in this process instead of leaving it to the task worker"
        )

    def batch_named(self, pk: int) -> Any:
        from tessera.vouchers.models import Batch

        batch = Batch.objects.select_related("offer").filter(pk=pk).first()
        if batch is None:
            raise CommandError(f"not_found: there is no batch {pk}.")
        return batch

    def report(self, job: Any, *, now: bool, what: str = "mails") -> None:
        from tessera.vouchers.services import send_job_run

        if job is None:
            self.stdout.write(f"No {what} to send.")
            return
        if not now:
            self.stdout.write(
                f"Queued mail job {job.pk}: {job.total:,} {what} of batch {job.batch_id}; the task worker "
                "(`tessera db_worker`, which `tessera run` starts) sends them."
            )
            return
        job = send_job_run(job_id=job.pk)
        self.stdout.write(f"Mail job {job.pk} {job.status}: {job.sent:,} sent, {job.failed:,} failed of {job.total:,}.")
        if job.error:
            self.stdout.write(f"The job says: {job.error}")
