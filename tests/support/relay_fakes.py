"""In-memory stand-ins for the relay's ports: the outbox under its lease, the status topic, the
metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from db.errors import DatabaseUnavailableError
from db.outbox import OutboxRow
from worker.errors import RelaySendError

WRITTEN_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def outbox_row(row_id: int, ref: str = "web-1", sequence: int | None = None) -> OutboxRow:
    sequence = row_id if sequence is None else sequence
    return OutboxRow(
        id=row_id,
        event_id=f"order-1:{sequence}",
        message_key=ref,
        payload=f'{{"sequence": {sequence}}}',
        headers={},
        created_at=WRITTEN_AT + timedelta(seconds=row_id),
    )


class FakeLease:
    def __init__(self, rows: list[OutboxRow]) -> None:
        self._rows = rows
        self.deleted: set[int] = set()

    async def pending(self, limit: int) -> list[OutboxRow]:
        return sorted(self._rows, key=lambda row: row.id)[:limit]

    async def delete(self, rows: Sequence[OutboxRow]) -> None:
        self.deleted |= {row.id for row in rows}


class FakeOutbox:
    """`status_outbox` with its lease: deletes last only when the lease's block ends without
    an error, as a commit; `held_elsewhere` is another relay leading; `unavailable` fails the
    next leases as a lost MySQL would."""

    def __init__(self, rows: Sequence[OutboxRow] = ()) -> None:
        self.rows = list(rows)
        self.held_elsewhere = False
        self.unavailable = 0
        self.holders: list[str] = []
        self.committed = asyncio.Event()  # set by each lease that ends without an error

    @asynccontextmanager
    async def lease(self, holder: str) -> AsyncIterator[FakeLease | None]:
        if self.unavailable:
            self.unavailable -= 1
            raise DatabaseUnavailableError("database unavailable: lost connection", errno=2013)
        if self.held_elsewhere:
            yield None
            return
        lease = FakeLease(self.rows)
        yield lease
        self.rows = [row for row in self.rows if row.id not in lease.deleted]
        self.holders.append(holder)
        self.committed.set()

    async def oldest_created_at(self) -> datetime | None:
        return min((row.created_at for row in self.rows), default=None)


class FakeTopic:
    """The status topic: every row it acknowledged, in order, and every batch it was sent;
    `refusals` batches are refused first; a `bug` is raised as it is; while `hold` is unset,
    acknowledgements wait."""

    def __init__(self) -> None:
        self.acknowledged: list[OutboxRow] = []
        self.batches: list[list[int]] = []
        self.refusals = 0
        self.bug: Exception | None = None
        self.hold: asyncio.Event | None = None
        self.changed = asyncio.Condition()

    async def send_all(self, rows: Sequence[OutboxRow]) -> None:
        self.batches.append([row.id for row in rows])
        if self.hold is not None:
            await self.hold.wait()
        if self.bug is not None:
            raise self.bug
        if self.refusals:
            self.refusals -= 1
            raise RelaySendError("KafkaConnectionError: Unable connect to node")
        async with self.changed:
            self.acknowledged += rows
            self.changed.notify_all()

    async def wait_for(self, count: int, within: float = 5) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: len(self.acknowledged) >= count)


class FakeRelayMetrics:
    def __init__(self) -> None:
        self.relayed = 0
        self.oldest: datetime | None = None
        self.leading: bool | None = None

    def events_relayed(self, count: int) -> None:
        self.relayed += count

    def oldest_waiting(self, written_at: datetime | None) -> None:
        self.oldest = written_at

    def relay_leading(self, leading: bool) -> None:
        self.leading = leading
