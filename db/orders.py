"""Orders, their items and their status history, keyed for idempotency by `order_ref`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import databases

from db.connection import connection, order_must_exist, retry_conflicts, transaction
from db.errors import OrderNotFoundError
from db.order_inserts import insert_orders_and_items, results_by_ref
from db.order_rows import (
    ItemRow,
    NewOrder,
    OrderInsertResult,
    OrderRow,
    StatusRow,
    UnstartedOrder,
)
from db.outbox import add_status_event
from db.records import row_from
from db.statements import case_when, fetch_in, in_list, to_utc_naive
from schemas.workflow_io import OrderLine, StatusChange

REASON_LENGTH = 255

_ORDER_COLUMNS = (
    "id, order_ref, customer_id, customer_email, currency, order_date, status, total_amount,"
    " payment_method, content_fingerprint, temporal_workflow_id, failure_reason, status_sequence"
)
COUNT_IN_PROGRESS = (
    "SELECT COUNT(*) FROM orders"
    " WHERE status IN ('PENDING', 'VALIDATING', 'RESERVING_STOCK', 'PROCESSING_PAYMENT')"
)
_ADVANCE_STATUS = (
    "UPDATE orders SET status = :status, failure_reason = :reason, status_sequence = :sequence"
    " WHERE id = :order_id AND status_sequence < :sequence"
)
# A repeated (order_id, sequence) keeps the first row; unlike INSERT IGNORE, every other
# error still raises.
_INSERT_HISTORY = (
    "INSERT INTO order_status_history"
    " (order_id, sequence, previous_status, status, reason, occurred_at)"
    " VALUES (:order_id, :sequence, :previous_status, :status, :reason, :occurred_at)"
    " ON DUPLICATE KEY UPDATE sequence = sequence"
)

# Read through the status index: PENDING orders are few, flow control bounds them.
_UNSTARTED = (
    "SELECT id, order_ref, customer_id, customer_email, currency, total_amount, payment_method,"
    " sealed_secrets FROM orders WHERE status = 'PENDING' AND temporal_workflow_id IS NULL"
    " AND created_at < CURRENT_TIMESTAMP - INTERVAL :seconds SECOND ORDER BY id LIMIT :limit"
)

_LINES_OF = (
    "SELECT order_id, product_id, quantity, unit_price FROM order_items"
    " WHERE order_id IN ({placeholders}) ORDER BY id"
)
_ITEMS = (
    "SELECT id, order_id, product_id, quantity, unit_price FROM order_items"
    " WHERE order_id = :order_id ORDER BY id"
)
_HISTORY = (
    "SELECT order_id, sequence, previous_status, status, reason, occurred_at"
    " FROM order_status_history WHERE order_id = :order_id ORDER BY sequence"
)

_REQUEST_CANCELLATION = (
    "UPDATE orders SET cancel_requested_at = UTC_TIMESTAMP(6), cancel_reason = :reason"
    " WHERE id = :order_id AND cancel_requested_at IS NULL"
    " AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')"
)


class OrderRepository:
    """Reads and writes `orders`, `order_items` and `order_status_history`, and writes each
    status's event to `status_outbox`."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def insert_order(self, new: NewOrder) -> OrderInsertResult:
        """Store a PENDING order with its items, or return the order already stored under
        its `order_ref` (`created=False`), writing nothing."""
        [result] = await self.insert_orders([new])
        return result

    async def insert_orders(self, orders: Sequence[NewOrder]) -> list[OrderInsertResult]:
        """`insert_order` for many orders in one transaction and two multi-row INSERTs;
        results in input order. A ref repeated in the batch is created once, by its first
        occurrence; the later ones come back as `created=False`."""
        first_seen: dict[str, NewOrder] = {}
        for order in orders:
            first_seen.setdefault(order.order_ref, order)
        if not first_seen:
            return []
        unique = sorted(first_seen.values(), key=lambda order: order.order_ref)
        stored = await retry_conflicts(lambda: self._insert_absent(unique))
        results: list[OrderInsertResult] = []
        returned: set[str] = set()
        for order in orders:
            result = stored[order.order_ref]
            results.append(
                replace(result, created=False) if order.order_ref in returned else result
            )
            returned.add(order.order_ref)
        return results

    async def _insert_absent(self, orders: Sequence[NewOrder]) -> dict[str, OrderInsertResult]:
        refs = [order.order_ref for order in orders]
        async with transaction(self._database) as conn:
            stored = await results_by_ref(conn, refs)
            absent = [order for order in orders if order.order_ref not in stored]
            if absent:
                stored.update(await insert_orders_and_items(conn, absent))
        return stored

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        async with connection(self._database) as conn:
            changed = await conn.execute(
                "UPDATE orders SET temporal_workflow_id = :workflow_id WHERE id = :order_id",
                {"workflow_id": workflow_id, "order_id": order_id},
            )
            # Zero rows changed is also what an already-set id gives: look before failing.
            if not changed and await self._fetch_order(conn, "id", order_id) is None:
                raise OrderNotFoundError(order_id)

    async def set_workflow_ids(self, started: Sequence[tuple[int, str]]) -> list[bool]:
        """`set_workflow_id` for many orders in one UPDATE; for each, whether its row exists."""
        if not started:
            return []
        cases, values = case_when(started, "w")
        placeholders, id_values = in_list([order_id for order_id, _ in started], "id")
        async with connection(self._database) as conn:
            changed = await conn.execute(
                f"UPDATE orders SET temporal_workflow_id = CASE id {cases} END"
                f" WHERE id IN ({placeholders})",
                values | id_values,
            )
            if changed == len(id_values):
                return [True] * len(started)
            # Zero rows changed is also what an already-set id gives: look before failing.
            found = await conn.fetch_all(
                f"SELECT id FROM orders WHERE id IN ({placeholders})", id_values
            )
        present = {int(record["id"]) for record in found}
        return [order_id in present for order_id, _ in started]

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        async with connection(self._database) as conn:
            return await self._fetch_order(conn, "order_ref", order_ref)

    async def count_in_progress(self) -> int:
        """Orders stored and not yet CONFIRMED or ended: the work in flight, read through the
        status index (`consumer.flow`)."""
        async with connection(self._database) as conn:
            count = await conn.fetch_val(COUNT_IN_PROGRESS)
        return int(count)

    async def unstarted_orders(self, older_than_seconds: int, limit: int) -> list[UnstartedOrder]:
        """PENDING orders stored at least `older_than_seconds` ago whose workflow was never
        recorded as started, oldest first, with their lines."""
        async with connection(self._database) as conn:
            records = await conn.fetch_all(
                _UNSTARTED, {"seconds": older_than_seconds, "limit": limit}
            )
            if not records:
                return []
            ids = [int(record["id"]) for record in records]
            items = await fetch_in(conn, _LINES_OF, ids, "id")
        lines: dict[int, list[OrderLine]] = {}
        for item in items:
            lines.setdefault(int(item["order_id"]), []).append(
                OrderLine(
                    product_id=int(item["product_id"]),
                    quantity=int(item["quantity"]),
                    unit_price=Decimal(item["unit_price"]),
                )
            )
        return [
            row_from(UnstartedOrder, record, items=tuple(lines.get(int(record["id"]), ())))
            for record in records
        ]

    async def get(self, order_id: int) -> OrderRow | None:
        async with connection(self._database) as conn:
            return await self._fetch_order(conn, "id", order_id)

    async def items(self, order_id: int) -> list[ItemRow]:
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_ITEMS, {"order_id": order_id})
        return [row_from(ItemRow, record) for record in records]

    async def status_history(self, order_id: int) -> list[StatusRow]:
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_HISTORY, {"order_id": order_id})
        return [row_from(StatusRow, record) for record in records]

    async def record_status(
        self, change: StatusChange, headers: Mapping[str, str] | None = None
    ) -> None:
        """Append the change to the history, make it the order's status unless the order
        already holds a later one, and put its event in the outbox with `headers` (the trace
        context), all in one transaction. Repeating a change changes nothing and sends no
        second event, even after the first one has left the outbox."""
        # A reason longer than its column would fail this write on every retry: keep its start.
        reason = change.reason[:REASON_LENGTH] if change.reason is not None else None
        values = {
            "order_id": change.order_id,
            "sequence": change.sequence,
            "status": change.status.value,
            "reason": reason,
        }
        history = values | {
            "previous_status": change.previous_status.value if change.previous_status else None,
            "occurred_at": to_utc_naive(change.occurred_at, fraction_digits=3),
        }

        async def record() -> None:
            async with transaction(self._database) as conn:
                # The order row first: its write lock serialises writers of one order's
                # status, where the history's foreign-key check alone would let two
                # retries deadlock on shared locks.
                await conn.execute(_ADVANCE_STATUS, values)
                with order_must_exist(change.order_id):
                    inserted = await conn.execute(_INSERT_HISTORY, history)
                # One row inserted counts 1; an existing row left as it is counts 0.
                if inserted == 1:
                    await add_status_event(conn, change, headers)

        await retry_conflicts(record)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        """Record that the customer asked to cancel, before the workflow is told: a step that
        commits after this sees it. False when the order has already ended; asking again
        keeps the first request."""
        values = {"order_id": order_id, "reason": reason[:REASON_LENGTH]}
        async with connection(self._database) as conn:
            if await conn.execute(_REQUEST_CANCELLATION, values):
                return True
            order = await self._fetch_order(conn, "id", order_id)
        if order is None:
            raise OrderNotFoundError(order_id)
        return not order.status.is_terminal

    @staticmethod
    async def _fetch_order(conn: Any, column: str, value: object) -> OrderRow | None:
        where = {"id": "id = :value", "order_ref": "order_ref = :value"}[column]
        record = await conn.fetch_one(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where}", {"value": value}
        )
        return row_from(OrderRow, record) if record is not None else None
