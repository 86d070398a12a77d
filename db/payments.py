"""Each order's one payment row: its intent, capture or decline, and refund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import databases

from db.connection import connection, order_must_exist, retry_conflicts
from db.records import row_from
from db.statements import to_utc_naive


class PaymentStatus(StrEnum):
    INTENDED = "INTENDED"  # committed before the gateway is called: a capture may follow
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"

    @property
    def may_be_captured(self) -> bool:
        """Whether money may have been taken and not given back: a refund is owed on a stop."""
        return self in (PaymentStatus.INTENDED, PaymentStatus.CAPTURED)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    order_id: int
    payment_id: str | None  # the gateway's id, once a capture is known
    amount: Decimal
    currency: str
    status: PaymentStatus
    captured_at: datetime | None
    refunded_at: datetime | None
    # The key the gateway captures and refunds by (`order-<id>`), and when the intent was
    # committed; None on rows written before the intent was.
    idempotency_key: str | None = None
    intended_at: datetime | None = None


_SELECT = (
    "SELECT order_id, payment_id, amount, currency, status, captured_at, refunded_at,"
    " idempotency_key, intended_at FROM payments WHERE order_id = :order_id"
)
# An existing row for the order is kept as it is: the first capture stands.
_INSERT = (
    "INSERT INTO payments (order_id, payment_id, amount, currency, status, captured_at)"
    " VALUES (:order_id, :payment_id, :amount, :currency, 'CAPTURED', :now)"
    " ON DUPLICATE KEY UPDATE order_id = order_id"
)

_REFUND = (
    "UPDATE payments SET status = 'REFUNDED', refunded_at = :now"
    " WHERE order_id = :order_id AND status = 'CAPTURED'"
)


class PaymentRepository:
    """Reads and writes `payments`."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def find(self, order_id: int) -> PaymentRow | None:
        async with connection(self._database) as conn:
            record = await conn.fetch_one(_SELECT, {"order_id": order_id})
        return row_from(PaymentRow, record) if record is not None else None

    async def record_capture(
        self, order_id: int, payment_id: str, amount: Decimal, currency: str
    ) -> PaymentRow:
        """Record the order's captured payment; a repeated call returns the first row as is."""
        values = {
            "order_id": order_id,
            "payment_id": payment_id,
            "amount": amount,
            "currency": currency,
            "now": to_utc_naive(datetime.now(UTC)),
        }

        async def capture() -> PaymentRow:
            async with connection(self._database) as conn:
                with order_must_exist(order_id):
                    await conn.execute(_INSERT, values)
                record = await conn.fetch_one(_SELECT, {"order_id": order_id})
            return row_from(PaymentRow, record)

        return await retry_conflicts(capture)

    async def mark_refunded(self, order_id: int) -> bool:
        """Mark the order's captured payment refunded; True only for the call that did."""
        values = {"order_id": order_id, "now": to_utc_naive(datetime.now(UTC))}

        async def refund() -> bool:
            async with connection(self._database) as conn:
                changed = await conn.execute(_REFUND, values)
            return bool(changed == 1)

        return await retry_conflicts(refund)
