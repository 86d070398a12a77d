"""The rows an operator looks at beside those the steps read (an order's reservations and
notifications, its last status line, the orders to reconcile) and the one repair the operator
tools make: a row's status put back from its own history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import databases

from db.connection import connection, retry_conflicts, transaction
from db.order_rows import StatusRow
from db.records import row_from

# The server measures the idle time, so the tools' clock cannot skew it.
_ALL_ORDERS = (
    "SELECT id AS order_id,"
    " COALESCE(TIMESTAMPDIFF(SECOND, updated_at, CURRENT_TIMESTAMP), 0) AS idle_seconds"
    " FROM orders ORDER BY id"
)
_OPEN_ORDERS = (
    "SELECT id AS order_id,"
    " COALESCE(TIMESTAMPDIFF(SECOND, updated_at, CURRENT_TIMESTAMP), 0) AS idle_seconds"
    " FROM orders WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED') ORDER BY id"
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
_RESERVATIONS = (
    "SELECT product_id, quantity, reserved_at, released_at FROM stock_reservations"
    " WHERE order_id = :order_id ORDER BY product_id"
)
_NOTIFICATIONS = (
    "SELECT kind, sent_at FROM notifications WHERE order_id = :order_id ORDER BY sent_at"
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


class AuditRepository:
    def __init__(self, database: databases.Database) -> None:
        self._database = database

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

    async def reservations(self, order_id: int) -> list[ReservationRow]:
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_RESERVATIONS, {"order_id": order_id})
        return [row_from(ReservationRow, record) for record in records]

    async def notifications(self, order_id: int) -> list[NotificationRow]:
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_NOTIFICATIONS, {"order_id": order_id})
        return [row_from(NotificationRow, record) for record in records]

    async def candidates(self, *, include_terminal: bool) -> list[Candidate]:
        """The orders reconcile looks at: those not yet terminal, or every one."""
        async with connection(self._database) as conn:
            records = await conn.fetch_all(_ALL_ORDERS if include_terminal else _OPEN_ORDERS)
        return [row_from(Candidate, record) for record in records]
