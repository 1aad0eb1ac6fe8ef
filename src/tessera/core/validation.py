"""Checks of plain values against a model field's limits, so bad input is refused with
InvalidInput before the database refuses it (PostgreSQL) or silently keeps it (SQLite)."""

from decimal import Decimal, InvalidOperation

from django.db import models

from tessera.core.errors import InvalidInput


def fits_text(model: type[models.Model], field: str, value: str) -> str:
    limit = getattr(model._meta.get_field(field), "max_length", None)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{field.replace('_', ' ').capitalize()} is at most {limit} characters.", field=field)
    return value


def fits_decimal(model: type[models.Model], field: str, value: Decimal) -> Decimal:
    definition = model._meta.get_field(field)
    if not isinstance(definition, models.DecimalField):
        raise TypeError(f"{model.__name__}.{field} is not a DecimalField")
    places = definition.decimal_places
    whole_digits = definition.max_digits - places
    try:
        fits = value.is_finite() and abs(value) < Decimal(10) ** whole_digits and value == round(value, places)
    except InvalidOperation:
        fits = False
    if not fits:
        raise InvalidInput(
            f"{field.capitalize()} must be a number below {10**whole_digits:,} with at most {places} decimals.",
            field=field,
        )
    return value


def one_of(choices: type[models.TextChoices], field: str, value: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise InvalidInput(f"{field.replace('_', ' ').capitalize()} is one of {allowed}.", field=field)
    return value
