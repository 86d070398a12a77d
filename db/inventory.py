"""Stock reservations: all of an order's items or none, never more than the free stock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import databases

from db.connection import retry_conflicts, transaction
from db.errors import InsufficientStockError, OrderNotFoundError
from db.statements import to_utc_naive, values_rows

# The condition makes the check and the decrement one atomic step: reading the stock first
# and writing it after oversells under concurrency.
_TAKE_STOCK = (
    "UPDATE products SET stock_quantity = stock_quantity - :quantity"
    " WHERE id = :product_id AND stock_quantity >= :quantity"
)
_RETURN_STOCK = (
    "UPDATE products SET stock_quantity = stock_quantity + :quantity WHERE id = :product_id"
)
_INSERT_RESERVATIONS = (
    "INSERT INTO stock_reservations (order_id, product_id, quantity, reserved_at) VALUES {rows}"
)


class InventoryRepository:
    """Moves units between `products.stock_quantity` and `stock_reservations`."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def reserve(self, order_id: int, lines: Iterable[tuple[int, int]]) -> bool:
        """Reserve `(product_id, quantity)` lines for the order, all or none.

        True when this call reserved; False when the order already has reservations (a
        retry), which are left as they are. Raises `InsufficientStockError` for the first
        product short of stock, having changed nothing.
        """
        wanted = summed(lines)
        return await retry_conflicts(lambda: self._reserve(order_id, wanted))

    async def release(self, order_id: int) -> bool:
        """Give back the stock of the order's unreleased reservations; True when it did."""
        return await retry_conflicts(lambda: self._release(order_id))

    async def _reserve(self, order_id: int, wanted: list[tuple[int, int]]) -> bool:
        async with transaction(self._database) as conn:
            await _lock_order(conn, order_id)
            if await conn.fetch_val(
                "SELECT COUNT(*) FROM stock_reservations WHERE order_id = :order_id",
                {"order_id": order_id},
            ):
                return False
            await take_stock(conn, order_id, wanted)
        return True

    async def _release(self, order_id: int) -> bool:
        async with transaction(self._database) as conn:
            await _lock_order(conn, order_id)
            return await release_stock(conn, order_id)


async def take_stock(conn: Any, order_id: int, wanted: list[tuple[int, int]]) -> None:
    """Reserve `wanted` (summed lines, ascending product ids) in the caller's transaction, or
    raise `InsufficientStockError` for the first product short of stock; the caller's
    rollback then undoes the lines already taken."""
    # Ascending product ids: concurrent reservations lock rows in one order and so
    # never wait on each other in a cycle.
    for product_id, quantity in wanted:
        values = {"product_id": product_id, "quantity": quantity}
        if await conn.execute(_TAKE_STOCK, values) != 1:
            raise await _shortfall(conn, product_id, quantity)
    now = to_utc_naive(datetime.now(UTC))
    rows, row_values = values_rows([(order_id, p, q, now) for p, q in wanted], "r")
    await conn.execute(_INSERT_RESERVATIONS.format(rows=rows), row_values)


async def release_stock(conn: Any, order_id: int) -> bool:
    """Give back the order's unreleased reservations in the caller's transaction; True when
    there were any."""
    records = await conn.fetch_all(
        "SELECT product_id, quantity FROM stock_reservations"
        " WHERE order_id = :order_id AND released_at IS NULL"
        " ORDER BY product_id FOR UPDATE",
        {"order_id": order_id},
    )
    if not records:
        return False
    for record in records:
        await conn.execute(
            _RETURN_STOCK, {"product_id": record["product_id"], "quantity": record["quantity"]}
        )
    await conn.execute(
        "UPDATE stock_reservations SET released_at = :now"
        " WHERE order_id = :order_id AND released_at IS NULL",
        {"order_id": order_id, "now": to_utc_naive(datetime.now(UTC))},
    )
    return True


def summed(lines: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """One line per product, quantities added up, in ascending product id."""
    totals: Counter[int] = Counter()
    for product_id, quantity in lines:
        if quantity < 1:
            raise ValueError("a reserved quantity must be at least 1")
        totals[product_id] += quantity
    if not totals:
        raise ValueError("nothing to reserve")
    return sorted(totals.items())


async def _lock_order(conn: Any, order_id: int) -> None:
    # Serialises reserve and release of one order, so the check for existing reservations
    # and the writes after it cannot interleave with a retry of the same call.
    locked = await conn.fetch_val(
        "SELECT id FROM orders WHERE id = :order_id FOR UPDATE", {"order_id": order_id}
    )
    if locked is None:
        raise OrderNotFoundError(order_id)


async def _shortfall(conn: Any, product_id: int, requested: int) -> InsufficientStockError:
    available = await conn.fetch_val(
        "SELECT stock_quantity FROM products WHERE id = :product_id", {"product_id": product_id}
    )
    # An unknown product has no free units at all.
    return InsufficientStockError(product_id, requested=requested, available=int(available or 0))
