"""Which notifications an order has had, so each kind goes out at most once."""

from __future__ import annotations

from datetime import UTC, datetime

import databases

from db.connection import connection, order_must_exist, retry_conflicts
from db.statements import to_utc_naive

# An existing row is left as it is: the first record stands.
_INSERT = (
    "INSERT INTO notifications (order_id, kind, sent_at) VALUES (:order_id, :kind, :now)"
    " ON DUPLICATE KEY UPDATE order_id = order_id"
)


class NotificationRepository:
    """Reads and writes `notifications`."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def record_once(self, order_id: int, kind: str) -> bool:
        """Record that the order's `kind` notification is sent; True only the first time."""
        values = {"order_id": order_id, "kind": kind, "now": to_utc_naive(datetime.now(UTC))}

        async def record() -> bool:
            async with connection(self._database) as conn:
                with order_must_exist(order_id):
                    inserted = await conn.execute(_INSERT, values)
            # One row inserted counts 1; an existing row left as it is counts 0.
            return bool(inserted == 1)

        return await retry_conflicts(record)
