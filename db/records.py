"""A row read from MySQL made into its typed, immutable dataclass, each column converted by the
type of the field it fills: one conversion for every row the repositories return."""

from __future__ import annotations

import types
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from db.statements import from_utc_naive

Row = TypeVar("Row")


def row_from(cls: type[Row], record: Any, **given: object) -> Row:
    """`cls` with each field read from the record's column of the same name, unless `given`."""
    values = {
        name: given[name] if name in given else _convert(kind, record[name])
        for name, kind in _fields(cls).items()
    }
    return cls(**values)


_FIELDS: dict[type, dict[str, Any]] = {}


def _fields(cls: type) -> dict[str, Any]:
    if cls not in _FIELDS:
        _FIELDS[cls] = get_type_hints(cls)
    return _FIELDS[cls]


def _convert(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if get_origin(kind) in (Union, types.UnionType):
        [kind] = [arg for arg in get_args(kind) if arg is not type(None)]
    if kind is datetime:
        return from_utc_naive(value)  # DATETIME columns hold UTC
    if kind in (int, str, Decimal, bytes) or (isinstance(kind, type) and issubclass(kind, Enum)):
        return kind(value)
    return value
