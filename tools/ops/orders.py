"""Orders found by ref or id, the rows around them the repositories do not read, and the
writes the tools make: a cancellation recorded, a status put back from its own history."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import databases

from db.connection import connection, retry_conflicts, transaction
from db.order_rows import ItemRow, OrderRow, StatusRow
from db.orders import OrderRepository
from db.payments import PaymentRepository, PaymentRow
from db.records import row_from
from db.statements import from_utc_naive
from schemas.order import TERMINAL_STATUSES
from schemas.workflow_io import StatusChange
from tools.ops.errors import NotFoundError

_ORDER_ID = re.compile(r"^(?:order-)?([0-9]{1,18})$")
# Written into the SQL: the enum's own values, never input.
_TERMINAL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))
# The server measures the idle time, so the tools' clock cannot skew it.
_CANDIDATES = (
    "SELECT id, TIMESTAMPDIFF(SECOND, updated_at, CURRENT_TIMESTAMP) AS idle_seconds"
    " FROM orders {where} ORDER BY id"
)
_LAST_LINE = (
    "SELECT order_id, sequence, previous_status, status, reason, occurred_at"
    " FROM order_status_history WHERE order_id = :order_id ORDER BY sequence DESC LIMIT 1"
)
_LOCK_ROW = "SELECT status, status_sequence FROM orders WHERE id = :order_id FOR UPDATE"
_PUT_BACK = (
    "UPDATE orders SET status = :status, failure_reason = :reason, status_sequence = :sequence"
    " WHERE id = :order_id"
)


@dataclass(frozen=True, slots=True)
class ReservationRow:
    product_id: int
    quantity: int
    reserved_at: datetime
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationRow:
    kind: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order to reconcile and how long its row has gone unchanged."""

    order_id: int
    idle_seconds: int


class OrderRecords:
    """Read access to an order's rows, plus the writes of reconcile (a status) and cancel."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database
        self._orders = OrderRepository(database)
        self._payments = PaymentRepository(database)

    async def resolve(self, reference: str) -> OrderRow:
        """The order whose `order_ref` is `reference`; else, for digits (or `order-<digits>`,
        a workflow id), the order with that id."""
        order = await self._orders.find_by_ref(reference)
        if order is None and (number := _ORDER_ID.match(reference)):
            order = await self._orders.get(int(number.group(1)))
        if order is None:
            raise NotFoundError(f"no order has ref or id {reference!r}")
        return order

    async def get(self, order_id: int) -> OrderRow | None:
        return await self._orders.get(order_id)

    async def items(self, order_id: int) -> list[ItemRow]:
        return await self._orders.items(order_id)

    async def history(self, order_id: int) -> list[StatusRow]:
        return await self._orders.status_history(order_id)

    async def last_status(self, order_id: int) -> StatusRow | None:
        """The order's last status history line: what its row says once consistent."""
        async with connection(self._database) as conn:
            record = await conn.fetch_one(_LAST_LINE, {"order_id": order_id})
        return row_from(StatusRow, record) if record is not None else None

    async def put_back_status(self, order_id: int) -> StatusRow | None:
        """Give the row the status, reason and sequence of its last history line, when they
        differ: the line written, or None. Under the row's lock, which every step and status
        write takes first, so a status committed meanwhile is the one the row gets."""

        async def put_back() -> StatusRow | None:
            async with transaction(self._database) as conn:
                row = await conn.fetch_one(_LOCK_ROW, {"order_id": order_id})
                record = await conn.fetch_one(_LAST_LINE, {"order_id": order_id})
                if row is None or record is None:
                    return None
                line = row_from(StatusRow, record)
                if (row["status"], int(row["status_sequence"])) == (line.status, line.sequence):
                    return None
                values: dict[str, object] = {"status": line.status.value, "reason": line.reason}
                values |= {"sequence": line.sequence, "order_id": order_id}
                await conn.execute(_PUT_BACK, values)
                return line

        return await retry_conflicts(put_back)

    async def payment(self, order_id: int) -> PaymentRow | None:
        return await self._payments.find(order_id)

    async def reservations(self, order_id: int) -> list[ReservationRow]:
        records = await self._fetch(
            "SELECT product_id, quantity, reserved_at, released_at FROM stock_reservations"
            " WHERE order_id = :order_id ORDER BY product_id",
            order_id,
        )
        return [
            ReservationRow(
                product_id=int(r["product_id"]),
                quantity=int(r["quantity"]),
                reserved_at=from_utc_naive(r["reserved_at"]),
                released_at=_aware(r["released_at"]),
            )
            for r in records
        ]

    async def notifications(self, order_id: int) -> list[NotificationRow]:
        records = await self._fetch(
            "SELECT kind, sent_at FROM notifications WHERE order_id = :order_id ORDER BY sent_at",
            order_id,
        )
        return [NotificationRow(str(r["kind"]), from_utc_naive(r["sent_at"])) for r in records]

    async def candidates(self, *, include_terminal: bool) -> list[Candidate]:
        """The orders reconcile looks at: those not yet terminal, or every one."""
        where = "" if include_terminal else f"WHERE status NOT IN ({_TERMINAL})"
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_CANDIDATES.format(where=where))
        return [Candidate(int(r["id"]), int(r["idle_seconds"] or 0)) for r in records]

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        await self._orders.set_workflow_id(order_id, workflow_id)

    async def record_status(self, change: StatusChange) -> None:
        await self._orders.record_status(change)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        """The customer's cancellation on the order, as the consumer records it before it
        signals: False when the order has already ended."""
        return await self._orders.record_cancellation(order_id, reason)

    async def _fetch(self, sql: str, order_id: int) -> list[Any]:
        async with connection(self._database) as conn:
            return list(await conn.fetch_all(sql, {"order_id": order_id}))


def _aware(value: datetime | None) -> datetime | None:
    return from_utc_naive(value) if value is not None else None
