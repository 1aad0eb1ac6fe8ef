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
# Each ORM query builds and compiles its SQL anew, which on the hot paths costs more than the
# statement itself: bench/bench_sql.py times each hand-written statement against the ORM code
# giving the same answer (docs/benchmarks.md section 5, "Hand-written SQL against the ORM"). The
# hot paths write their SQL once instead and use these helpers, which convert values to and from
# the database exactly as the ORM does; tests/core/test_db.py holds them to the ORM's answers.
# Where Tessera writes SQL by hand, and why: docs/architecture.md.


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


def from_db(model: type[Model], field_name: str, value: object) -> object:
    """A value of `model.field_name` that hand-written SQL selected, converted as the ORM would
    load it (SQLite's text timestamps made aware; on PostgreSQL most fields need nothing)."""
    if value is None:
        return None
    converters, expression = _field_converters(model, field_name, connection.vendor)
    return _convert(value, converters, expression) if converters else value


def insert(instance: M) -> M:
    """INSERTs a new instance as `instance.save()` would, and returns it saved (primary key set).

    Every column is written as Model.save() writes it: the values the instance holds (its
    fields' defaults wherever the constructor was not given one), auto_now and auto_now_add
    filled in, each prepared by its field. Unlike save(), no signal is sent and plain values
    only are taken (no F() expressions). Model.objects.create() took 133-186 µs of CPU against
    94-122 µs for the same rows (PostgreSQL; docs/benchmarks.md section 5)."""
    model, new_key = type(instance), instance.pk is None
    fields = _insert_fields(model, new_key)
    params = [field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in fields]
    returning = new_key and connection.features.can_return_columns_from_insert
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, tuple(field.column for field in fields), returning), params)
        if new_key:
            instance.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@functools.cache
def _insert_fields(model: type[Model], new_key: bool) -> tuple[Field[Any, Any], ...]:
    """The columns Model.save() INSERTs: all, but an automatic primary key still to be drawn."""
    meta = model._meta
    return tuple(field for field in meta.local_concrete_fields if not (new_key and field is meta.auto_field))


@functools.cache
def _converters(model: type[Model], vendor: str) -> list[tuple[list[Converter], Any]]:
    found = []
    for field in model._meta.concrete_fields:
        expression = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        found.append((converters, expression))
    return found


@functools.cache
def _field_converters(model: type[Model], field_name: str, vendor: str) -> tuple[list[Converter], Any]:
    field = model._meta.get_field(field_name)
    return _converters(model, vendor)[model._meta.concrete_fields.index(field)]


def _convert(value: object, converters: list[Converter], expression: object) -> object:
    for converter in converters:
        value = converter(value, expression, connection)
    return value


@functools.cache
def _insert_sql(model: type[Model], columns: tuple[str, ...], returning: bool) -> str:
    quoted = ", ".join(f'"{column}"' for column in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f'INSERT INTO "{model._meta.db_table}" ({quoted}) VALUES ({placeholders})'  # noqa: S608 (names from _meta)
    return f'{sql} RETURNING "{model._meta.pk.column}"' if returning else sql
