"""The status relay: it sends the outbox's rows to the status topic in id order and deletes
them once Kafka has acknowledged every one, trying again for as long as it takes.

Only the relay holding the outbox's lease sends, inside one transaction (take the lease, read
the oldest rows, send them, await every ack, delete them, commit); the others stand by. So
however many worker processes run, one order's events leave one at a time and in order. A
failure rolls the transaction back: the rows stay, and the next try sends them again, in the
same order and under the same event ids. A Kafka outage thus only delays events: the steps
wrote theirs with their status and are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from db.errors import DatabaseUnavailableError
from db.outbox import OutboxRow
from worker.errors import RelaySendError

log = logging.getLogger(__name__)


TRANSIENT = (RelaySendError, DatabaseUnavailableError)


class PendingRows(Protocol):
    """The outbox under the lease (`db.outbox.OutboxLease`)."""

    async def pending(self, limit: int) -> list[OutboxRow]: ...
    async def delete(self, rows: Sequence[OutboxRow]) -> None: ...


class Outbox(Protocol):
    """`db.outbox.StatusOutbox`: a lease is None while another relay holds it."""

    def lease(self, holder: str) -> AbstractAsyncContextManager[PendingRows | None]: ...
    async def oldest_created_at(self) -> datetime | None: ...


class EventSender(Protocol):
    """Sends rows in order and returns once the broker has acknowledged every one
    (`worker.publisher.StatusPublisher`); `RelaySendError` when it has not."""

    async def send_all(self, rows: Sequence[OutboxRow]) -> None: ...


class RelayObserver(Protocol):
    """What the relay reports (`worker.metrics.WorkerMetrics`)."""

    def relay_leading(self, leading: bool) -> None: ...
    def oldest_waiting(self, written_at: datetime | None) -> None: ...
    def events_relayed(self, count: int) -> None: ...


@dataclass(frozen=True)
class RelayOptions:
    holder: str  # who leads, as `outbox_relay_lease.holder` shows it
    batch_size: int = 500
    poll_seconds: float = 0.2
    linger_seconds: float = 0.0
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 5.0
    # A batch whose acks take longer means Kafka is away: said once, then awaited.
    slow_send_seconds: float = 5.0


class StatusRelay:
    def __init__(
        self,
        outbox: Outbox,
        sender: EventSender,
        observer: RelayObserver,
        options: RelayOptions,
    ) -> None:
        self._outbox, self._sender, self._observer = outbox, sender, observer
        self._options = options
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failures = 0
        self._troubled = False

    def wake(self) -> None:
        """A status was committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """End `run` after one more pass, so what the last activities wrote leaves too."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until `stop`: right after a wake-up or a full batch, else every poll interval
        (for rows other processes wrote); after a failure, with a doubling pause."""
        options = self._options
        delay = options.backoff_initial_seconds
        while True:
            stopping = self._stopping.is_set()
            self._wake.clear()
            try:
                relayed = await self.relay_once()
            except TRANSIENT as error:
                self._failures += 1
                self._trouble(f"{type(error).__name__}: {error}")
                if stopping:
                    return
                await pause_until(self._stopping, delay)
                delay = min(delay * 2, options.backoff_max_seconds)
                continue
            self._recovered()
            delay = options.backoff_initial_seconds
            if relayed < options.batch_size:
                if stopping:
                    return
                await pause_until(self._wake, options.poll_seconds)
                # Steps commit a few events each: lingering a moment, as a producer does,
                # lets the next pass carry many of them in one transaction and one request.
                await pause_until(self._stopping, options.linger_seconds)

    async def relay_once(self) -> int:
        """One pass: when this relay leads, send the oldest waiting rows and delete them, all
        in the lease's transaction; how many were sent."""
        rows: list[OutboxRow] = []
        async with self._outbox.lease(self._options.holder) as lease:
            self._observer.relay_leading(lease is not None)
            if lease is not None:
                rows = await lease.pending(self._options.batch_size)
                self._observer.oldest_waiting(rows[0].created_at if rows else None)
                if rows:
                    await self._send(rows)
                    await lease.delete(rows)
        if lease is None:
            self._observer.oldest_waiting(await self._outbox.oldest_created_at())
        elif 0 < len(rows) < self._options.batch_size:
            self._observer.oldest_waiting(None)  # all sent; the next pass sees newer rows
        if rows:
            self._observer.events_relayed(len(rows))
        return len(rows)

    async def _send(self, rows: Sequence[OutboxRow]) -> None:
        # The producer retries a batch Kafka does not take until it does: awaited, however
        # long, rather than sent again beside itself; said once when it takes long.
        sending = asyncio.create_task(self._sender.send_all(rows))
        try:
            done, _ = await asyncio.wait({sending}, timeout=self._options.slow_send_seconds)
            if not done:
                self._trouble(f"Kafka has not acknowledged {len(rows)} events in time")
            await sending
        finally:
            sending.cancel()  # the relay itself cancelled: so is its send

    def _trouble(self, what: str) -> None:
        # Once per outage: a relay retrying every 5 s would otherwise fill the log.
        if self._troubled:
            log.debug("status relay still held up (%d failed tries): %s", self._failures, what)
            return
        self._troubled = True
        log.warning("status events wait in the outbox, retrying until they leave: %s", what)

    def _recovered(self) -> None:
        if self._troubled:
            log.info("status events leave the outbox again (%d failed tries)", self._failures)
        self._troubled, self._failures = False, 0


async def pause_until(event: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `event` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
