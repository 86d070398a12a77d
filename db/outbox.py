"""The status events' outbox: a row per status written with the status itself, then sent and
deleted by the one relay that holds the lease.

Rows are read oldest id first and only while they are still there: a relay never keeps a
cursor, for the ids of concurrent transactions commit out of order. One order's rows are
written in sequence order, each status only once the one before it is committed, so id order
is their sequence order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import databases
from asyncmy import errors as driver

from db.connection import connection, error_code, transaction
from db.errors import MigrationError
from db.records import row_from
from db.statements import from_utc_naive, in_list
from schemas.events import status_event
from schemas.workflow_io import StatusChange

STATUS_LEASE = "status"
# MySQL refuses a NOWAIT lock with ER_LOCK_NOWAIT; MariaDB with a lock wait timeout.
LOCK_REFUSED = frozenset({3572, 1205})

# A repeated (order_id, sequence) keeps the first row, as the history does.
_INSERT = (
    "INSERT INTO status_outbox (order_id, sequence, event_id, event_type, message_key,"
    " payload, headers, created_at)"
    " VALUES (:order_id, :sequence, :event_id, :event_type, :message_key, :payload, :headers,"
    " UTC_TIMESTAMP(6))"
    " ON DUPLICATE KEY UPDATE id = id"
)
_TAKE_LEASE = "SELECT holder FROM outbox_relay_lease WHERE name = :name FOR UPDATE NOWAIT"
# Written only when the leader changes, so a relay polling an idle table writes nothing.
_NAME_HOLDER = (
    "UPDATE outbox_relay_lease SET holder = :holder, acquired_at = UTC_TIMESTAMP(6)"
    " WHERE name = :name AND NOT holder <=> :holder"
)
_PENDING = (
    "SELECT id, event_id, message_key, payload, headers, created_at FROM status_outbox"
    " ORDER BY id LIMIT :limit"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One status event waiting to be sent: its Kafka key, value and headers."""

    id: int
    event_id: str
    message_key: str
    payload: str
    headers: Mapping[str, str]
    created_at: datetime

    @classmethod
    def from_record(cls, record: Any) -> OutboxRow:
        headers = record["headers"]
        return row_from(cls, record, headers=json.loads(headers) if headers else {})


async def add_status_event(
    conn: Any, change: StatusChange, headers: Mapping[str, str] | None
) -> None:
    """Write the change's `OrderStatusChanged` to the outbox, inside the caller's transaction."""
    event = status_event(change)
    await conn.execute(
        _INSERT,
        {
            "order_id": change.order_id,
            "sequence": change.sequence,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "message_key": event.order_ref,
            "payload": event.model_dump_json(),
            "headers": json.dumps(dict(headers), sort_keys=True) if headers else None,
        },
    )


class OutboxLease:
    """The outbox as the leading relay sees it, inside the transaction that holds the lease."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def pending(self, limit: int) -> list[OutboxRow]:
        """The oldest rows still waiting, at most `limit`, in id order."""
        records = await self._conn.fetch_all(_PENDING, {"limit": limit})
        return [OutboxRow.from_record(record) for record in records]

    async def delete(self, rows: Sequence[OutboxRow]) -> None:
        """Delete sent rows; gone once the lease's transaction commits."""
        if rows:
            placeholders, values = in_list([row.id for row in rows], "id")
            await self._conn.execute(
                f"DELETE FROM status_outbox WHERE id IN ({placeholders})", values
            )


class StatusOutbox:
    """Reads, deletes and prunes `status_outbox` under the lease of `outbox_relay_lease`."""

    def __init__(self, database: databases.Database, lease_name: str = STATUS_LEASE) -> None:
        self._database = database
        self._lease_name = lease_name

    @asynccontextmanager
    async def lease(self, holder: str) -> AsyncIterator[OutboxLease | None]:
        """One transaction holding the lease, or None when another relay holds it now. The
        transaction commits, and the lease is free again, when the block ends; an error in it
        rolls back whatever was deleted."""
        async with transaction(self._database) as conn:
            if await self._take(conn, holder):
                yield OutboxLease(conn)
            else:
                yield None

    async def _take(self, conn: Any, holder: str) -> bool:
        try:
            lease = await conn.fetch_one(_TAKE_LEASE, {"name": self._lease_name})
        except driver.Error as error:
            if error_code(error) in LOCK_REFUSED:
                return False
            raise
        if lease is None:
            # Without its row there is nothing to lock, and every relay would lead at once.
            raise MigrationError(f"outbox_relay_lease has no row {self._lease_name!r}")
        await conn.execute(_NAME_HOLDER, {"name": self._lease_name, "holder": holder})
        return True

    async def oldest_created_at(self) -> datetime | None:
        """When the oldest row still waiting was written; None when none waits."""
        async with connection(self._database) as conn:
            created = await conn.fetch_val(
                "SELECT created_at FROM status_outbox ORDER BY id LIMIT 1"
            )
        return from_utc_naive(created) if created is not None else None

    async def prune(self, older_than_seconds: float, limit: int) -> int:
        """Delete up to `limit` rows written more than `older_than_seconds` ago, oldest first:
        how many. For a deployment whose events leave through change data capture, which
        reads the rows from the binary log and never deletes them."""
        async with connection(self._database) as conn:
            deleted = await conn.execute(
                "DELETE FROM status_outbox"
                " WHERE created_at < UTC_TIMESTAMP(6) - INTERVAL :micros MICROSECOND"
                " ORDER BY id LIMIT :limit",
                {"micros": int(older_than_seconds * 1_000_000), "limit": limit},
            )
        return int(deleted)
