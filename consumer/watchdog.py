"""The progress watchdog: a consumer that has records waiting but moves nothing exits.

After a broker restart an aiokafka consumer can stay alive yet never fetch or commit again
(aiokafka#1154, #847, #625). Nothing inside the process notices, so the watchdog does: when no
offset has been committed for the stall time although records are pending, it logs why and
the consumer exits with `EXIT_STALLED`, for a supervisor to start a fresh one. An idle topic is
not a stall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from consumer.errors import ConsumerStalledError

log = logging.getLogger(__name__)

EXIT_STALLED = 3
MAX_CHECK_INTERVAL_SECONDS = 5.0


class ProgressWatchdog:
    """Decides, on the clock it is given, when a lack of progress has become a stall.

    Progress is a committed offset: each handled batch ends in one, and it is the only sign
    that work became durable. The clock runs only while records are pending; an idle topic
    restarts it, so the first records after a quiet hour are not already late.
    """

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._since = clock()

    def progressed(self) -> None:
        self._since = self._clock()

    def stalled(self, pending: bool) -> bool:
        if not pending:
            self._since = self._clock()
            return False
        return self._clock() - self._since >= self.stall_seconds

    @property
    def check_interval(self) -> float:
        return min(self.stall_seconds / 4, MAX_CHECK_INTERVAL_SECONDS)


class OffsetSource(Protocol):
    """What the watchdog reads of a consumer; `AIOKafkaConsumer` has it."""

    def assignment(self) -> Any: ...
    async def end_offsets(self, partitions: Any) -> Any: ...
    async def position(self, partition: Any) -> int: ...


class WatchedConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """An `AIOKafkaConsumer` whose successful commits count as the watchdog's progress."""

    def __init__(self, watchdog: ProgressWatchdog, **config: Any) -> None:
        super().__init__(**config)
        self._progress_watchdog = watchdog

    async def commit(self, offsets: Any = None) -> None:
        await super().commit(offsets)
        self._progress_watchdog.progressed()


async def records_pending(consumer: OffsetSource) -> bool:
    """Whether an assigned partition's end lies beyond the consumer's position. A broker that
    cannot say counts as records pending: fetches from it are failing too."""
    assigned = list(consumer.assignment())
    if not assigned:
        return False
    try:
        ends = await consumer.end_offsets(assigned)
        for tp in assigned:
            if ends[tp] > await consumer.position(tp):
                return True
    except KafkaError:
        return True
    return False


async def watch(
    consumer: OffsetSource,
    watchdog: ProgressWatchdog,
    *,
    batch_idle: asyncio.Event,
    held: Callable[[], bool] = lambda: False,
) -> None:
    """Raise `ConsumerStalledError` once the consumer has stalled; run it beside the loop.
    `batch_idle` is clear while the loop handles a batch: its records are pending too. While
    `held` (flow control has paused the partitions, or a record is retried until MySQL or
    Temporal is back), records wait on purpose: no stall."""
    interval = watchdog.check_interval
    while True:
        await asyncio.sleep(interval)
        if held():
            watchdog.progressed()  # waiting on purpose restarts the clock, as an idle topic does
            continue
        pending = not batch_idle.is_set()
        if not pending:
            try:
                async with asyncio.timeout(interval):
                    pending = await records_pending(consumer)
            except TimeoutError:
                pending = True  # a broker that does not answer in time
        if watchdog.stalled(pending):
            raise ConsumerStalledError(
                f"no progress for {watchdog.stall_seconds:g} s while records are pending"
            )


async def run_watched(
    run: Coroutine[Any, Any, None],
    guard: Coroutine[Any, Any, None],
    stop: asyncio.Event,
    *,
    grace: float,
) -> None:
    """Run the consume loop beside its `guard` (`watch`) until the loop ends. When the guard
    raises, set `stop`, give the loop `grace` seconds to finish its batch, cancel it if it
    has not (a stuck consumer may never get back to its stop check), and raise again."""
    loop = asyncio.create_task(run)
    watching = asyncio.create_task(guard)
    try:
        await asyncio.wait({loop, watching}, return_when=asyncio.FIRST_COMPLETED)
        if loop.done():
            return loop.result()
        watching.result()
    except ConsumerStalledError as stall:
        log.error("%s; exiting so a supervisor restarts it", stall)
        stop.set()
        await asyncio.wait({loop}, timeout=grace)
        raise
    finally:
        for task in (loop, watching):
            task.cancel()
        # Bounded: a cancelled batch still commits its finished prefix, which can hang on a
        # broker that does not answer; what is left is cancelled again as the event loop ends.
        await asyncio.wait({loop, watching}, timeout=grace)
        for task in (loop, watching):
            # Retrieved and dropped: the outcome that matters has been returned or raised.
            if task.done() and not task.cancelled():
                task.exception()
