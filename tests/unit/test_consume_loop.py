"""The consume loop, its rebalance gate, its commits and its flow control, on a fake consumer.

The fake hands out in-memory partitions as aiokafka's `getmany` does (at most `max_records`,
nothing from a paused partition) and records every commit. Tests wait on events the handlers
set, never on time.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition

from consumer.errors import EventRejected, TransientError, WorkflowIdTakenError
from consumer.flow import FlowControl
from consumer.runner import Backoff, BatchGate, ConsumeLoop
from db.errors import DatabaseUnavailableError

TOPIC = "orders"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def records(tp: TopicPartition, *keys: str) -> list[Record]:
    """One record per key, its value naming its place: `p0@3`."""
    return [
        Record(tp.topic, tp.partition, offset, key.encode(), f"p{tp.partition}@{offset}".encode())
        for offset, key in enumerate(keys)
    ]


class Changes:
    """Told by the fakes whenever something happened; a test awaits a condition on them."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def happened(self) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._event.clear()
            await asyncio.wait_for(self._event.wait(), 5)


class FakeConsumer:
    """Partitions in memory; `getmany` takes at most `max_records` from the unpaused ones."""

    def __init__(
        self, partitions: dict[TopicPartition, list[Record]], changes: Changes | None = None
    ) -> None:
        self.changes = changes or Changes()
        self.log = partitions
        self.positions = dict.fromkeys(partitions, 0)
        self.commits: list[dict[TopicPartition, int]] = []
        self.fetch_sizes: list[int | None] = []
        self.idle = asyncio.Event()  # set once a fetch found nothing to give
        self._paused: set[TopicPartition] = set()

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        self.fetch_sizes.append(max_records)
        self.changes.happened()
        left = max_records if max_records is not None else 1 << 30
        batch: dict[TopicPartition, list[Record]] = {}
        for tp in sorted(set(self.log) - self._paused):
            taken = self.log[tp][self.positions[tp] : self.positions[tp] + left]
            if taken:
                batch[tp] = taken
                self.positions[tp] += len(taken)
                left -= len(taken)
        if not batch:
            self.idle.set()
            await asyncio.sleep(0)  # as a real fetch waits: the loop yields
        return batch

    def assignment(self) -> set[TopicPartition]:
        return set(self.log)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused -= set(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.log[tp])

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def committed(self) -> dict[TopicPartition, int]:
        latest: dict[TopicPartition, int] = {}
        for offsets in self.commits:
            latest |= offsets
        return latest


class Handled:
    """A handler that records what it saw, per key, and runs a test's own behaviour first."""

    def __init__(
        self,
        behaviour: Callable[[bytes | None], Awaitable[None]] | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.changes = changes or Changes()
        self.by_key: dict[bytes | None, list[bytes | None]] = defaultdict(list)
        self.values: list[bytes | None] = []
        self._behaviour = behaviour

    async def __call__(self, key: bytes | None, value: bytes | None) -> str:
        if self._behaviour is not None:
            await self._behaviour(value)
        self.by_key[key].append(value)
        self.values.append(value)
        self.changes.happened()
        return "stored"


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, str]] = []

    async def __call__(self, record: Any, rejection: EventRejected) -> None:
        self.sent.append((record.value, rejection.reason))


def loop_of(
    consumer: FakeConsumer,
    handle: Handled,
    dead_letters: DeadLetters | None = None,
    *,
    gate: BatchGate | None = None,
    flow: FlowControl | None = None,
    max_records: int = 500,
) -> ConsumeLoop:
    return ConsumeLoop(
        consumer,  # the fake has what the loop uses
        handle,
        dead_letters or DeadLetters(),
        gate or BatchGate(timeout=5),
        max_records=max_records,
        concurrency=4,
        backoff=Backoff(initial=0.001, maximum=0.001),
        flow=flow,
    )


async def run_until(loop: ConsumeLoop, done: Callable[[], Awaitable[object]]) -> None:
    """Run the loop until `done` returns, then stop it and let it end."""
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(done(), 5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def test_each_keys_records_are_handled_in_order_and_every_finished_offset_is_committed() -> (
    None
):
    consumer = FakeConsumer(
        {TP0: records(TP0, "a", "b", "a", "a", "b"), TP1: records(TP1, "a", "c", "c")}
    )
    handled = Handled()

    await run_until(loop_of(consumer, handled), consumer.idle.wait)

    assert handled.by_key[b"a"] == [b"p0@0", b"p0@2", b"p0@3", b"p1@0"]
    assert handled.by_key[b"b"] == [b"p0@1", b"p0@4"]
    assert handled.by_key[b"c"] == [b"p1@1", b"p1@2"]
    assert consumer.committed() == {TP0: 5, TP1: 3}


async def test_a_rejected_record_is_dead_lettered_and_committed_past() -> None:
    async def reject_the_second(value: bytes | None) -> None:
        if value == b"p0@1":
            raise EventRejected("invalid_json", "not JSON")

    consumer = FakeConsumer({TP0: records(TP0, "a", "b", "c")})
    handled, dead_letters = Handled(reject_the_second), DeadLetters()

    await run_until(loop_of(consumer, handled, dead_letters), consumer.idle.wait)

    assert dead_letters.sent == [(b"p0@1", "invalid_json")]
    assert handled.values == [b"p0@0", b"p0@2"]
    assert consumer.committed() == {TP0: 3}


async def test_a_record_failing_transiently_is_never_committed_nor_passed_by_its_key() -> None:
    attempts = 0
    retried = asyncio.Event()

    async def mysql_away_for_p0_1(value: bytes | None) -> None:
        nonlocal attempts
        if value == b"p0@1":
            attempts += 1
            if attempts == 3:
                retried.set()
            raise TransientError("database unavailable")

    consumer = FakeConsumer({TP0: records(TP0, "a", "b", "b", "c")})
    handled = Handled(mysql_away_for_p0_1)

    await run_until(loop_of(consumer, handled), retried.wait)

    # The other keys went on; key b's next record waited behind the failing one; the commit
    # stops before the failing record, so a restart reads it (and what follows) again.
    assert sorted(v for v in handled.values if v is not None) == [b"p0@0", b"p0@3"]
    assert consumer.committed() == {TP0: 1}


async def test_while_a_record_is_retried_through_an_outage_the_loop_says_it_waits_on_purpose() -> (
    None
):
    mysql_back = False
    retried = asyncio.Event()

    async def mysql_away_until_back(value: bytes | None) -> None:
        if not mysql_back:
            retried.set()
            raise TransientError("database unavailable")

    consumer = FakeConsumer({TP0: records(TP0, "a")})
    handled = Handled(mysql_away_until_back)
    loop = loop_of(consumer, handled)
    waiting_seen: list[bool] = []

    async def retried_then_back() -> None:
        nonlocal mysql_back
        await retried.wait()
        waiting_seen.append(loop.waiting_out_failures)
        mysql_back = True
        await handled.changes.until(lambda: handled.values == [b"p0@0"])

    await run_until(loop, retried_then_back)

    assert waiting_seen == [True]
    assert not loop.waiting_out_failures
    assert consumer.committed() == {TP0: 1}


async def test_an_error_no_retry_mends_ends_the_loop_as_itself_after_committing_what_finished() -> (
    None
):
    async def taken(value: bytes | None) -> None:
        if value == b"p0@1":
            raise WorkflowIdTakenError("order-1", "web-1")

    consumer = FakeConsumer({TP0: records(TP0, "a", "b")})

    with pytest.raises(WorkflowIdTakenError, match="exists for another order"):
        await asyncio.wait_for(loop_of(consumer, Handled(taken)).run(asyncio.Event()), 5)

    assert consumer.committed() == {TP0: 1}


async def test_the_gate_holds_a_rebalance_until_the_batch_in_flight_has_committed() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(value: bytes | None) -> None:
        entered.set()
        await release.wait()

    gate = BatchGate(timeout=5)
    consumer = FakeConsumer({TP0: records(TP0, "a")})
    stop = asyncio.Event()
    running = asyncio.create_task(loop_of(consumer, Handled(slow), gate=gate).run(stop))
    await asyncio.wait_for(entered.wait(), 5)

    revoking = asyncio.create_task(gate.on_partitions_revoked({TP0}))
    await asyncio.sleep(0)
    held_while_in_flight = not revoking.done()
    release.set()
    await asyncio.wait_for(revoking, 5)
    committed_when_revoked = consumer.committed()
    stop.set()
    await asyncio.wait_for(running, 5)

    assert held_while_in_flight
    assert committed_when_revoked == {TP0: 1}


async def test_the_gate_lets_a_rebalance_go_ahead_after_its_timeout() -> None:
    gate = BatchGate(timeout=0.01)
    gate.idle.clear()  # a batch that never finishes

    await asyncio.wait_for(gate.on_partitions_revoked({TP0}), 5)

    assert not gate.idle.is_set()


class InProgress:
    """Orders in progress as MySQL would count them; `away` makes MySQL unreachable."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.away = False

    async def count_in_progress(self) -> int:
        if self.away:
            raise DatabaseUnavailableError("database unavailable: connection refused")
        return self.count


class FlowSeen:
    def __init__(self, changes: Changes | None = None) -> None:
        self.changes = changes or Changes()
        self.reports: list[tuple[int, bool]] = []

    def flow(self, in_progress: int, paused: bool) -> None:
        self.reports.append((in_progress, paused))
        self.changes.happened()


async def test_a_fetch_takes_no_more_records_than_the_room_left_under_the_bound() -> None:
    orders = InProgress(count=7)
    flow = FlowControl(orders, FlowSeen(), bound=10, resume_at=5)
    consumer = FakeConsumer({TP0: records(TP0, *"abcdefgh")})
    handled = Handled()

    await run_until(
        loop_of(consumer, handled, flow=flow),
        lambda: handled.changes.until(lambda: len(handled.values) >= 3),
    )

    assert consumer.fetch_sizes[0] == 3
    assert handled.values[:3] == [b"p0@0", b"p0@1", b"p0@2"]


async def test_at_the_bound_the_partitions_pause_until_the_orders_fall_to_the_resume_mark() -> None:
    changes = Changes()
    orders, seen = InProgress(count=10), FlowSeen(changes)
    flow = FlowControl(orders, seen, bound=10, resume_at=5)
    consumer = FakeConsumer({TP0: records(TP0, "a", "b"), TP1: records(TP1, "c")}, changes)
    handled = Handled(changes=changes)
    stop = asyncio.Event()
    running = asyncio.create_task(loop_of(consumer, handled, flow=flow).run(stop))

    await changes.until(lambda: len(consumer.fetch_sizes) >= 3)
    paused_at_bound = (consumer.paused(), list(handled.values))
    orders.count = 6  # below the bound, above the resume mark: still paused
    await changes.until(lambda: (6, True) in seen.reports)
    fetches = len(consumer.fetch_sizes)
    await changes.until(lambda: len(consumer.fetch_sizes) >= fetches + 2)
    still_paused = (consumer.paused(), list(handled.values))
    orders.count = 5
    await changes.until(lambda: len(handled.values) == 3)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert paused_at_bound == ({TP0, TP1}, [])
    assert still_paused == ({TP0, TP1}, [])
    assert consumer.paused() == set()
    assert consumer.committed() == {TP0: 2, TP1: 1}
    assert seen.reports[0] == (10, True)
    assert seen.reports[-1] == (5, False)


async def test_with_mysql_away_flow_control_keeps_its_last_decision() -> None:
    orders = InProgress(count=10)
    flow = FlowControl(orders, FlowSeen(), bound=10, resume_at=5)
    assert await flow.room() == 0

    orders.away = True
    assert await flow.room() == 0  # still paused: nothing new is admitted
    orders.away, orders.count = False, 0
    assert await flow.room() == 10
    orders.away = True
    assert await flow.room() == 10  # admitting: the handlers wait out MySQL themselves


def test_the_resume_mark_must_lie_below_the_bound() -> None:
    with pytest.raises(ValueError, match="resume mark"):
        FlowControl(InProgress(0), FlowSeen(), bound=10, resume_at=10)
