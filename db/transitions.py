"""An order locked for one step's transaction, and the statuses the step makes it enter.

Every step takes the order's row lock first: one order's steps (and the consumer's recording
of a cancellation) then run one after the other, whatever worker runs them, and each sees
what the one before it committed. A status entered writes the order row, its history line
and its event in the outbox, so MySQL and the status topic cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from db.errors import OrderNotFoundError
from db.outbox import add_status_event
from db.statements import to_utc_naive
from schemas.order import OrderStatus
from schemas.steps import OrderState
from schemas.workflow_io import OrderLine, StatusChange, workflow_id_for

REASON_LENGTH = 255

_LOCK = (
    "SELECT o.id, o.order_ref, o.status, o.status_sequence, o.failure_reason,"
    " o.total_amount, o.currency, o.cancel_requested_at IS NOT NULL AS cancel_requested,"
    " EXISTS (SELECT 1 FROM stock_reservations r"
    "         WHERE r.order_id = o.id AND r.released_at IS NULL) AS stock_reserved,"
    " p.status AS payment_status, p.payment_id"
    " FROM orders o LEFT JOIN payments p ON p.order_id = o.id"
    " WHERE o.id = :order_id FOR UPDATE"
)
_ENTER = (
    "UPDATE orders SET status = :status, failure_reason = :reason, status_sequence = :sequence"
    " WHERE id = :order_id"
)
_HISTORY = (
    "INSERT INTO order_status_history"
    " (order_id, sequence, previous_status, status, reason, occurred_at)"
    " VALUES (:order_id, :sequence, :previous_status, :status, :reason, :occurred_at)"
)


@dataclass(slots=True)
class LockedOrder:
    """The order's row, locked until the step's transaction ends; `enter` keeps it current."""

    id: int
    order_ref: str
    status: OrderStatus
    sequence: int
    reason: str | None
    total_amount: Decimal
    currency: str
    cancel_requested: bool
    stock_reserved: bool
    payment_status: str | None
    payment_id: str | None
    # The order's lines once a step of this transaction has read them (`db.order_steps`).
    lines: list[OrderLine] | None = None

    def state(self, *, failure: str | None = None) -> OrderState:
        return OrderState(
            status=self.status,
            sequence=self.sequence,
            reason=self.reason if self.status.is_terminal else None,
            failure=failure,
            cancel_requested=self.cancel_requested,
            stock_reserved=self.stock_reserved,
            payment_id=self.payment_id,
        )


async def lock_order(conn: Any, order_id: int) -> LockedOrder:
    record = await conn.fetch_one(_LOCK, {"order_id": order_id})
    if record is None:
        raise OrderNotFoundError(order_id)
    return LockedOrder(
        id=int(record["id"]),
        order_ref=str(record["order_ref"]),
        status=OrderStatus(record["status"]),
        sequence=int(record["status_sequence"]),
        reason=record["failure_reason"],
        total_amount=Decimal(record["total_amount"]),
        currency=str(record["currency"]),
        cancel_requested=bool(record["cancel_requested"]),
        stock_reserved=bool(record["stock_reserved"]),
        payment_status=record["payment_status"],
        payment_id=record["payment_id"],
    )


async def enter(
    conn: Any,
    order: LockedOrder,
    status: OrderStatus,
    headers: Mapping[str, str] | None,
    reason: str | None = None,
) -> None:
    """Make `status` the order's next one: row, history line and outbox event, in the
    caller's transaction. The first status an order enters is PENDING itself."""
    reason = reason[:REASON_LENGTH] if reason is not None else None
    now = datetime.now(UTC)
    change = StatusChange(
        order_id=order.id,
        order_ref=order.order_ref,
        workflow_id=workflow_id_for(order.id),
        sequence=order.sequence + 1,
        previous_status=order.status if order.sequence else None,
        status=status,
        reason=reason,
        # Milliseconds, as the history keeps it: the event and its line say the same time.
        occurred_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
    )
    values = {
        "order_id": order.id,
        "sequence": change.sequence,
        "status": status.value,
        "reason": reason,
    }
    await conn.execute(_ENTER, values)
    await conn.execute(
        _HISTORY,
        values
        | {
            "previous_status": change.previous_status.value if change.previous_status else None,
            "occurred_at": to_utc_naive(change.occurred_at, fraction_digits=3),
        },
    )
    await add_status_event(conn, change, headers)
    order.status, order.sequence, order.reason = status, change.sequence, reason
