"""What the repositories accept before any SQL runs, and the placeholders they generate."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from db.order_rows import NewOrder
from db.statements import in_list, select_rows, to_utc_naive, values_rows
from schemas.workflow_io import OrderLine

ORDER = NewOrder(
    order_ref="web-000123",
    customer_id=42,
    customer_email="ada@example.com",
    currency="USD",
    total_amount=Decimal("19.99"),
    payment_method="card",
    content_fingerprint=hashlib.sha256(b"web-000123").hexdigest(),
    order_date=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    items=(OrderLine(product_id=1, quantity=1, unit_price=Decimal("19.99")),),
)


@pytest.mark.parametrize(
    "change",
    [
        {"order_ref": ""},
        {"order_ref": "x" * 65},
        {"order_ref": "web-1 "},
        {"customer_email": "a" * 255},
        {"payment_method": "p" * 33},
        {"currency": "EURO"},
        {"content_fingerprint": "TOKEN-IN-CLEAR"},
        {"order_date": datetime(2026, 11, 26, 12, 0)},  # noqa: DTZ001 - naive on purpose
        {"items": ()},
    ],
)
def test_an_order_the_schema_cannot_hold_is_refused_before_any_sql(
    change: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        replace(ORDER, **change)


def test_multi_row_values_bind_every_value_under_a_generated_name() -> None:
    sql, values = values_rows([(1, "a'b"), (2, "c;d")], "p")

    assert sql == "(:p0_0, :p0_1), (:p1_0, :p1_1)"
    assert values == {"p0_0": 1, "p0_1": "a'b", "p1_0": 2, "p1_1": "c;d"}


def test_derived_table_rows_name_their_columns_once() -> None:
    sql, values = select_rows([(1, "a"), (2, "b")], ("id", "sku"), "p")

    assert sql == "SELECT :p0_0 AS id, :p0_1 AS sku UNION ALL SELECT :p1_0, :p1_1"
    assert values == {"p0_0": 1, "p0_1": "a", "p1_0": 2, "p1_1": "b"}


def test_an_in_list_binds_each_value() -> None:
    assert in_list(["x", "y"], "ref") == (":ref0, :ref1", {"ref0": "x", "ref1": "y"})


def test_empty_lists_are_refused_rather_than_producing_broken_sql() -> None:
    with pytest.raises(ValueError, match="at least one"):
        values_rows([], "p")
    with pytest.raises(ValueError, match="at least one"):
        in_list([], "p")


def test_aware_times_are_stored_as_utc_truncated_to_the_columns_precision() -> None:
    moment = datetime(2026, 11, 26, 14, 0, 1, 987_654, tzinfo=timezone(timedelta(hours=2)))

    assert to_utc_naive(moment) == datetime(2026, 11, 26, 12, 0, 1, 987_654)  # noqa: DTZ001
    assert to_utc_naive(moment, fraction_digits=3).microsecond == 987_000
    assert to_utc_naive(moment, fraction_digits=0).microsecond == 0
