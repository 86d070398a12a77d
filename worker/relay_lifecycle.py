"""The relay as a task of the worker's lifecycle: started with it, taking it down if it fails,
and stopped within a bound once the activities have drained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from runtime.services import bounded
from worker.errors import RelayEndedError

# How long the relay may take over its last pass, and the producer over its stop, at shutdown.
STOP_SECONDS = 5.0


class Relay(Protocol):
    """`worker.relay.StatusRelay`, or `worker.outbox_pruner.OutboxPruner` when events leave
    through change data capture."""

    def wake(self) -> None: ...
    def stop(self) -> None: ...
    async def run(self) -> None: ...


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[asyncio.Task[None]]:
    """The relay running as a task for the length of the block; on the way out it makes its
    last pass, for at most `STOP_SECONDS`. Rows it leaves are sent at the next start."""
    task = asyncio.create_task(relay.run(), name="status-relay")
    try:
        yield task
    finally:
        if not task.done():
            relay.stop()
            await bounded("the status relay's last pass", task, STOP_SECONDS)


async def until_stopped(stop: asyncio.Event, relaying: asyncio.Task[None]) -> None:
    """Wait for the stop signal; a relay that ends first failed, and its error ends the
    worker, loudly, for its supervisor to restart it."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping, relaying}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if relaying.done():
        relaying.result()  # raises the relay's error
        raise RelayEndedError("the status relay ended while the worker ran")
