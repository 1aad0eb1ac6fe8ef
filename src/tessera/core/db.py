"""Small database helpers shared by services."""

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import IntegrityError, connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def violates_unique(error: IntegrityError, constraint: str) -> bool:
    """Whether `error` is a violation of the named unique constraint.

    PostgreSQL names the constraint; SQLite names its columns or index, so there any unique
    violation counts, which callers use only on inserts into tables with a single unique rule.
    """
    diag = getattr(error.__cause__, "diag", None)
    if diag is not None:
        return bool(diag.constraint_name == constraint)
    return "UNIQUE constraint failed" in str(error)


# --- hand-written SQL for the few hot paths (a redemption and what leads to it) -----------------
#
# Each ORM query builds and compiles its SQL anew, about 0.3-1 ms of Python per statement, which
# is most of what a redemption costs. The hot paths write their SQL once instead and use these
# helpers, which convert values to and from the database exactly as the ORM does.


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of `model`, in field order, qualified by `alias`: what
    `instance_from_row` expects to find, in the same order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def instance_from_row(model: type[M], values: Sequence[object]) -> M:
    """A model instance from the values `columns(model, ...)` selected, as the ORM would load it
    (with the database backend's converters, e.g. SQLite's text timestamps made aware)."""
    converted = [
        _convert(value, converters, expression) if converters and value is not None else value
        for value, (converters, expression) in zip(values, _converters(model, connection.vendor), strict=True)
    ]
    return model.from_db(connection.alias, _attnames(model), converted)


def insert_row(model: type[Model], **values: object) -> int:
    """INSERTs one row and returns its primary key. Values are given by field name or attname
    (`session_id`) and prepared as Model.save() prepares them, but no signal is sent and no
    default or auto_now value is filled in: the caller passes every column it wants set."""
    fields = [_concrete_field(model, name) for name in values]
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, tuple(values), connection.features.can_return_columns_from_insert), params)
        if connection.features.can_return_columns_from_insert:
            (pk,) = cursor.fetchone()
            return int(pk)
        return int(cursor.lastrowid)


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def _concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


@functools.cache
def _converters(model: type[Model], vendor: str) -> list[tuple[list[Converter], Any]]:
    found = []
    for field in model._meta.concrete_fields:
        expression = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        found.append((converters, expression))
    return found


def _convert(value: object, converters: list[Converter], expression: object) -> object:
    for converter in converters:
        value = converter(value, expression, connection)
    return value


@functools.cache
def _insert_sql(model: type[Model], names: tuple[str, ...], returning: bool) -> str:
    quoted = ", ".join(f'"{_concrete_field(model, name).column}"' for name in names)
    placeholders = ", ".join(["%s"] * len(names))
    sql = f'INSERT INTO "{model._meta.db_table}" ({quoted}) VALUES ({placeholders})'  # noqa: S608 (names from _meta)
    return f'{sql} RETURNING "{model._meta.pk.column}"' if returning else sql
