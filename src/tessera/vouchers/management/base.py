"""Shared by the voucher commands: vouchers-off check and DomainError → CommandError."""

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
