"""New orders and their items written with one multi-row INSERT each, whatever the batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncmy import errors as driver

from db.connection import error_code
from db.errors import TransactionConflictError
from db.order_rows import NewOrder, OrderInsertResult
from db.statements import fetch_in, to_utc_naive, values_rows
from schemas.order import OrderStatus

DUPLICATE_KEY = 1062

_INSERT_ORDERS = (
    "INSERT INTO orders (order_ref, customer_id, customer_email, currency, order_date, status,"
    " total_amount, payment_method, content_fingerprint, sealed_secrets) VALUES {rows}"
)
_STORED = (
    "SELECT id, order_ref, content_fingerprint, status, temporal_workflow_id FROM orders"
    " WHERE order_ref IN ({placeholders})"
)
_IDS = "SELECT id, order_ref FROM orders WHERE order_ref IN ({placeholders})"
_INSERT_ITEMS = "INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES {rows}"


async def results_by_ref(conn: Any, refs: Sequence[str]) -> dict[str, OrderInsertResult]:
    """The orders already stored under these refs, as `created=False` results."""
    records = await fetch_in(conn, _STORED, refs, "ref")
    results = (OrderInsertResult.existing(record) for record in records)
    return {result.order_ref: result for result in results}


async def insert_orders_and_items(
    conn: Any, orders: Sequence[NewOrder]
) -> dict[str, OrderInsertResult]:
    """Insert the orders, then all their items, in two statements; the results by ref."""
    rows, values = values_rows([_order_values(order) for order in orders], "o")
    try:
        await conn.execute(_INSERT_ORDERS.format(rows=rows), values)
    except driver.IntegrityError as error:
        if error_code(error) != DUPLICATE_KEY:
            raise
        # Another writer stored one of these refs after our read: run the whole
        # transaction again, and that read will find it.
        raise TransactionConflictError("an order_ref was inserted concurrently") from error
    records = await fetch_in(conn, _IDS, [order.order_ref for order in orders], "ref")
    ids = {str(record["order_ref"]): int(record["id"]) for record in records}
    item_rows = [
        (ids[order.order_ref], line.product_id, line.quantity, line.unit_price)
        for order in orders
        for line in order.items
    ]
    rows, values = values_rows(item_rows, "i")
    await conn.execute(_INSERT_ITEMS.format(rows=rows), values)
    return {order.order_ref: _created(order, ids) for order in orders}


def _order_values(order: NewOrder) -> tuple[object, ...]:
    return (
        order.order_ref,
        order.customer_id,
        order.customer_email,
        order.currency,
        to_utc_naive(order.order_date, fraction_digits=0),
        OrderStatus.PENDING.value,
        order.total_amount,
        order.payment_method,
        order.content_fingerprint,
        order.sealed_secrets,
    )


def _created(order: NewOrder, ids: dict[str, int]) -> OrderInsertResult:
    return OrderInsertResult(
        created=True,
        order_id=ids[order.order_ref],
        order_ref=order.order_ref,
        content_fingerprint=order.content_fingerprint,
        status=OrderStatus.PENDING,
        temporal_workflow_id=None,
    )
