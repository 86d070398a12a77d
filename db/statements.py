"""Placeholders for multi-row statements: generated names, values always bound, never inlined."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any


def values_rows(rows: Sequence[Sequence[object]], prefix: str) -> tuple[str, dict[str, object]]:
    """`(:p0_0, :p0_1), (:p1_0, :p1_1)` and the values bound to those names.

    One multi-row INSERT replaces a round trip per row (`execute_many` is a loop of them).
    """
    if not rows:
        raise ValueError("a multi-row statement needs at least one row")
    names, values = _named(rows, prefix)
    groups = ("(" + ", ".join(f":{name}" for name in row) + ")" for row in names)
    return ", ".join(groups), values


def select_rows(
    rows: Sequence[Sequence[object]], columns: Sequence[str], prefix: str
) -> tuple[str, dict[str, object]]:
    """`SELECT :p0_0 AS a, :p0_1 AS b UNION ALL SELECT :p1_0, :p1_1`: rows as a derived table.

    `columns` are names written in the code, never input.
    """
    if not rows:
        raise ValueError("a derived table needs at least one row")
    all_names, values = _named(rows, prefix)
    selects: list[str] = []
    for r, names in enumerate(all_names):
        aliases = columns if r == 0 else [""] * len(columns)
        fields = (
            f":{name} AS {alias}" if alias else f":{name}"
            for name, alias in zip(names, aliases, strict=True)
        )
        selects.append("SELECT " + ", ".join(fields))
    return " UNION ALL ".join(selects), values


def _named(
    rows: Sequence[Sequence[object]], prefix: str
) -> tuple[list[list[str]], dict[str, object]]:
    """Each row's placeholder names (`p0_0, p0_1`; `p1_0, p1_1`) and the values bound to them."""
    names = [[f"{prefix}{r}_{c}" for c in range(len(row))] for r, row in enumerate(rows)]
    values = {
        name: value
        for row_names, row in zip(names, rows, strict=True)
        for name, value in zip(row_names, row, strict=True)
    }
    return names, values


def case_when(pairs: Sequence[tuple[object, object]], prefix: str) -> tuple[str, dict[str, object]]:
    """`WHEN :p0_0 THEN :p0_1 WHEN :p1_0 THEN :p1_1` for a `CASE <column> ... END` that gives
    each row its own value in one UPDATE, and the values bound to those names."""
    if not pairs:
        raise ValueError("a CASE needs at least one WHEN")
    values: dict[str, object] = {}
    whens: list[str] = []
    for n, (match, result) in enumerate(pairs):
        values |= {f"{prefix}{n}_0": match, f"{prefix}{n}_1": result}
        whens.append(f"WHEN :{prefix}{n}_0 THEN :{prefix}{n}_1")
    return " ".join(whens), values


def in_list(items: Iterable[object], prefix: str) -> tuple[str, dict[str, object]]:
    """`:p0, :p1, :p2` for an `IN (...)` and the values bound to those names."""
    values = {f"{prefix}{i}": item for i, item in enumerate(items)}
    if not values:
        raise ValueError("an IN list needs at least one value")
    return ", ".join(f":{name}" for name in values), values


async def fetch_in(conn: Any, sql: str, items: Iterable[object], prefix: str) -> list[Any]:
    """The records of `sql`, whose `{placeholders}` is filled with an `IN` list of `items`."""
    placeholders, values = in_list(items, prefix)
    return list(await conn.fetch_all(sql.format(placeholders=placeholders), values))


def to_utc_naive(moment: datetime, *, fraction_digits: int = 6) -> datetime:
    """The UTC wall time a DATETIME(fraction_digits) column stores; refuses a naive datetime.

    Extra digits are truncated here because MySQL would round them and MariaDB truncate.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime has no defined instant; pass an aware one")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    step = 10 ** (6 - fraction_digits)
    return utc.replace(microsecond=utc.microsecond // step * step)


def from_utc_naive(stored: datetime) -> datetime:
    """An aware datetime for a DATETIME column that holds UTC."""
    return stored.replace(tzinfo=UTC)
