"""Outbox rows for a deployment whose status events leave through change data capture.

With `STATUS_RELAY=external`, Debezium's outbox event router reads each row from MySQL's binary
log as it is inserted and sends it; it never deletes a row. The pruner does, once the row is
older than `STATUS_OUTBOX_RETENTION_SECONDS`: the binary log, not the table, is what the
connector reads, so a row it has not read yet is not lost with the row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from db.errors import DatabaseUnavailableError
from worker.relay import pause_until

log = logging.getLogger(__name__)


class PrunableOutbox(Protocol):
    """`db.outbox.StatusOutbox`."""

    async def prune(self, older_than_seconds: float, limit: int) -> int: ...


class OutboxPruner:
    def __init__(
        self,
        outbox: PrunableOutbox,
        *,
        retention_seconds: float,
        batch_size: int,
        interval_seconds: float = 60.0,
    ) -> None:
        self._outbox = outbox
        self._retention_seconds = retention_seconds
        self._batch_size = batch_size
        self._interval_seconds = interval_seconds
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Nothing to do at once: a new row is kept for the retention."""

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Delete expired rows a batch at a time, then look again after the interval."""
        while not self._stopping.is_set():
            try:
                await self._prune_expired()
            except DatabaseUnavailableError as error:
                log.warning("outbox rows not pruned, trying again later: %s", error)
            await pause_until(self._stopping, self._interval_seconds)

    async def _prune_expired(self) -> None:
        while not self._stopping.is_set():
            pruned = await self._outbox.prune(self._retention_seconds, self._batch_size)
            if pruned < self._batch_size:
                return
