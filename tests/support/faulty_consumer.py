"""`python -m tests.support.faulty_consumer`: the consumer, with faults put into its ports.

The fault suite starts this in place of `python -m consumer`. It is the same composition
(`consumer.__main__.main`), given port wrappers that end or slow the process at a named step
of an order; the consumer itself has no such switch. Its own variables, read here only:

- `FAULT_CRASH_AT=<point>` ends the process with exit code 86 when it reaches that point, at
  its `FAULT_CRASH_AFTER`-th pass (default 1, counted per process), after writing
  `crash point <point> reached` to stderr. No cleanup runs, as with a power cut.
- `FAULT_SLOW_START_SECONDS=<s>` makes the handler wait that long before each workflow start,
  with the order stored: handling outlasts a poll interval, or a kill finds orders in hand.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition

from consumer.__main__ import main
from consumer.handlers import OrderStore, OrderWorkflows
from consumer.runner import RecordSource
from consumer.wiring import PortWrappers
from db.order_rows import NewOrder, OrderInsertResult, OrderRow
from runtime.exit import exit_now
from schemas.workflow_io import OrderWorkflowInput

FAULTY_CONSUMER = "tests.support.faulty_consumer"  # the module `Processes.start` runs
CRASH_EXIT_CODE = 86

# The points, in the order an order passes them.
AFTER_INSERT = "after_insert"  # the order row is inserted, its workflow not started yet
AFTER_START = "after_start"  # the workflow is started, its id not written back to the row yet
BEFORE_COMMIT = "before_commit"  # the batch is handled, its offsets not committed yet
POINTS = frozenset({AFTER_INSERT, AFTER_START, BEFORE_COMMIT})


class Faults:
    """The faults one consumer process is armed with, and the wrappers that put them in."""

    def __init__(
        self, crash_at: str | None = None, crash_after: int = 1, start_delay: float = 0.0
    ) -> None:
        if crash_at is not None and crash_at not in POINTS:
            # A misspelt point would never be reached, and its test would wait in vain.
            raise ValueError(f"no crash point {crash_at!r}; the points are {sorted(POINTS)}")
        self.crash_at = crash_at
        self.crash_after = crash_after
        self.start_delay = start_delay
        self._passes = 0

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Faults:
        return cls(
            crash_at=env.get("FAULT_CRASH_AT") or None,
            crash_after=int(env.get("FAULT_CRASH_AFTER") or 1),
            start_delay=float(env.get("FAULT_SLOW_START_SECONDS") or 0),
        )

    def wrappers(self) -> PortWrappers:
        return PortWrappers(
            store=lambda store: CrashingStore(store, self),
            workflows=lambda workflows: FaultyWorkflows(workflows, self),
            consumer=lambda consumer: CrashingCommits(consumer, self),
        )

    def reached(self, point: str) -> None:
        """End the process at once if it is armed at `point` and this pass is due."""
        if point != self.crash_at:
            return
        self._passes += 1
        if self._passes < self.crash_after:
            return
        sys.stderr.write(f"crash point {point} reached\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)

    async def before_start(self) -> None:
        if self.start_delay > 0:
            await asyncio.sleep(self.start_delay)


class CrashingStore:
    """The handler's `OrderStore`, passing `AFTER_INSERT` once an order it will start is in."""

    def __init__(self, inner: OrderStore, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    async def insert_order(self, new: NewOrder) -> OrderInsertResult:
        stored = await self._inner.insert_order(new)
        # As the handler decides: an order neither started before nor a conflicting duplicate.
        conflicting = not stored.created and stored.content_fingerprint != new.content_fingerprint
        if stored.temporal_workflow_id is None and not conflicting:
            self._faults.reached(AFTER_INSERT)
        return stored

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        await self._inner.set_workflow_id(order_id, workflow_id)

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        return await self._inner.find_by_ref(order_ref)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        return await self._inner.record_cancellation(order_id, reason)


class FaultyWorkflows:
    """The handler's `OrderWorkflows`, slow to start an order and passing `AFTER_START` after."""

    def __init__(self, inner: OrderWorkflows, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None:
        await self._faults.before_start()
        await self._inner.start_order(workflow_input, new=new)
        self._faults.reached(AFTER_START)

    async def cancel_order(self, workflow_id: str, reason: str) -> bool:
        return await self._inner.cancel_order(workflow_id, reason)


class CrashingCommits:
    """The consume loop's `RecordSource`, passing `BEFORE_COMMIT` before each commit."""

    def __init__(self, inner: RecordSource, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self._faults.reached(BEFORE_COMMIT)
        await self._inner.commit(offsets)

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        return await self._inner.getmany(timeout_ms=timeout_ms, max_records=max_records)

    def assignment(self) -> set[TopicPartition]:
        return self._inner.assignment()

    def pause(self, *partitions: TopicPartition) -> None:
        self._inner.pause(*partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._inner.resume(*partitions)

    def paused(self) -> set[TopicPartition]:
        return self._inner.paused()

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._inner.highwater(tp)


if __name__ == "__main__":
    faults = Faults.from_environment(os.environ)
    exit_now(asyncio.run(main(wrappers=faults.wrappers())))
