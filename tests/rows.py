"""Holding hand-written SQL to the ORM: a row's every column, and changes made only to be compared."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model

T = TypeVar("T")


def columns_of(instance: Model | None) -> dict[str, Any] | None:
    """Every column's value as the instance holds it (None for no instance): what a hand-written
    read and the ORM must agree on."""
    if instance is None:
        return None
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def rolled_back(change: Callable[[], T]) -> T:
    """What `change` answers, run in a transaction that is then rolled back, so that the ORM and a
    hand-written statement can each make the same change to the same rows."""
    with transaction.atomic():
        answer = change()
        transaction.set_rollback(True)
    return answer
