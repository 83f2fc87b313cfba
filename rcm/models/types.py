"""Column types shared by every table: money, UTC timestamps, string-stored enums, ids.

Importing this module also installs the constraint naming convention on `SQLModel.metadata`:
every model module imports it first, so every constraint and index has a deterministic name,
which Alembic needs to alter or drop it (SQLite batch mode rebuilds tables by name).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

CENTS = Decimal("0.01")


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A new random primary key."""
    return uuid.uuid4()


def to_money(value: Decimal | int | str) -> Decimal:
    """`value` as a Decimal in whole cents. Floats are refused: they cannot hold cents exactly,
    and amounts with fractions of a cent are refused rather than silently rounded."""
    if isinstance(value, (bool, float)):
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    if not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money must be a finite amount, got {value!r}")
    cents = amount.quantize(CENTS)
    if cents != amount:
        raise ValueError(f"money has fractions of a cent: {value!r}")
    return cents


class Money(TypeDecorator[Decimal]):
    """Numeric(12, 2), read back as a Decimal quantized to cents on every backend.

    SQLite has no decimal type and stores these as REAL; twelve significant digits survive
    a double exactly, and quantizing on the way out restores the cents.
    """

    impl = Numeric(12, 2, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return to_money(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            # SQL aggregates over a REAL column on SQLite come back as float.
            value = Decimal(repr(value))
        return Decimal(value).quantize(CENTS)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (also on SQLite,
    which keeps no offset). Naive datetimes are refused: their zone is a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


class EnumString(TypeDecorator[Enum]):
    """A `str` Enum stored as its value in a VARCHAR: no database enum types, so the same
    migration runs on SQLite and PostgreSQL and adding a member needs no migration."""

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[Enum], length: int = 32) -> None:
        super().__init__(length=length)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(self.enum_class(value).value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Enum | None:
        if value is None:
            return None
        return self.enum_class(value)

    @property
    def python_type(self) -> type[Enum]:
        return self.enum_class
