"""The progress watchdog decides on a fake clock and reads offsets from a fake consumer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from consumer.errors import ConsumerStalledError
from consumer.watchdog import (
    ProgressWatchdog,
    records_pending,
    run_watched,
    watch,
)

TP0, TP1 = TopicPartition("orders", 0), TopicPartition("orders", 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeOffsets:
    """A consumer's assignment, positions and partition ends; `broken` makes the broker fail,
    `silent` makes it never answer."""

    def __init__(self, positions: dict[TopicPartition, int], ends: dict[TopicPartition, int]):
        self.positions, self.ends = positions, ends
        self.broken = self.silent = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.silent:
            await asyncio.Event().wait()
        if self.broken:
            raise KafkaTimeoutError()
        return {tp: self.ends[tp] for tp in partitions}

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]


def test_an_idle_topic_never_counts_as_a_stall() -> None:
    clock = FakeClock()
    watchdog = ProgressWatchdog(120, clock)
    for _ in range(10):
        clock.now += 60
        assert not watchdog.stalled(pending=False)


def test_pending_records_without_progress_for_the_stall_time_are_a_stall() -> None:
    clock = FakeClock()
    watchdog = ProgressWatchdog(120, clock)
    assert not watchdog.stalled(pending=True)
    clock.now += 119
    assert not watchdog.stalled(pending=True)
    clock.now += 1
    assert watchdog.stalled(pending=True)


def test_a_commit_restarts_the_stall_clock() -> None:
    clock = FakeClock()
    watchdog = ProgressWatchdog(120, clock)
    clock.now += 100
    watchdog.progressed()
    clock.now += 100
    assert not watchdog.stalled(pending=True)
    clock.now += 20
    assert watchdog.stalled(pending=True)


def test_records_arriving_after_a_quiet_hour_are_not_already_late() -> None:
    clock = FakeClock()
    watchdog = ProgressWatchdog(120, clock)
    clock.now += 3600
    assert not watchdog.stalled(pending=False)
    clock.now += 5
    assert not watchdog.stalled(pending=True)


def test_the_check_interval_is_a_quarter_of_the_stall_time_at_most_five_seconds() -> None:
    assert ProgressWatchdog(8).check_interval == 2
    assert ProgressWatchdog(120).check_interval == 5


async def test_records_are_pending_when_a_partition_ends_beyond_the_position() -> None:
    assert await records_pending(FakeOffsets({TP0: 5, TP1: 3}, {TP0: 5, TP1: 4}))
    assert not await records_pending(FakeOffsets({TP0: 5, TP1: 4}, {TP0: 5, TP1: 4}))


async def test_nothing_is_pending_without_an_assignment() -> None:
    assert not await records_pending(FakeOffsets({}, {}))


async def test_a_broker_that_cannot_tell_the_ends_counts_as_records_pending() -> None:
    offsets = FakeOffsets({TP0: 5}, {TP0: 5})
    offsets.broken = True
    assert await records_pending(offsets)


async def test_a_silent_broker_stalls_the_watch_and_an_idle_topic_does_not() -> None:
    silent = FakeOffsets({TP0: 5}, {TP0: 5})
    silent.silent = True
    idle_batch = asyncio.Event()
    idle_batch.set()
    with pytest.raises(ConsumerStalledError, match=r"no progress for 0.2 s"):
        await asyncio.wait_for(watch(silent, ProgressWatchdog(0.2), batch_idle=idle_batch), 5)
    caught_up = FakeOffsets({TP0: 5}, {TP0: 5})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(watch(caught_up, ProgressWatchdog(0.2), batch_idle=idle_batch), 1)


async def test_a_batch_in_flight_counts_as_records_pending() -> None:
    caught_up = FakeOffsets({TP0: 5}, {TP0: 5})
    in_flight = asyncio.Event()  # clear: a batch is being handled
    with pytest.raises(ConsumerStalledError):
        await asyncio.wait_for(watch(caught_up, ProgressWatchdog(0.2), batch_idle=in_flight), 5)


async def test_records_held_back_by_flow_control_are_no_stall() -> None:
    behind = FakeOffsets({TP0: 5}, {TP0: 500})  # a backlog, paused on purpose
    idle_batch = asyncio.Event()
    idle_batch.set()
    held = True

    # Held for ten stall times: no stall.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            watch(behind, ProgressWatchdog(0.1), batch_idle=idle_batch, held=lambda: held), 1
        )
    held = False  # resumed, and nothing moves: a stall again
    with pytest.raises(ConsumerStalledError):
        await asyncio.wait_for(
            watch(behind, ProgressWatchdog(0.1), batch_idle=idle_batch, held=lambda: held), 5
        )


async def test_a_stall_stops_the_loop_and_cancels_it_when_it_does_not_stop() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck_loop() -> None:
        try:
            await asyncio.Event().wait()  # never looks at `stop`
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def stalled() -> None:
        raise ConsumerStalledError("no progress for 1 s while records are pending")

    with pytest.raises(ConsumerStalledError):
        await run_watched(stuck_loop(), stalled(), stop, grace=0.1)
    assert stop.is_set()
    assert cancelled.is_set()


async def test_a_loop_that_ends_returns_and_takes_its_guard_with_it() -> None:
    stop = asyncio.Event()
    guard_cancelled = asyncio.Event()

    async def loop() -> None:
        await asyncio.sleep(0)

    async def guard() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            guard_cancelled.set()
            raise

    await run_watched(loop(), guard(), stop, grace=1)
    assert guard_cancelled.is_set()
    assert not stop.is_set()


async def test_a_loop_that_crashes_raises_its_own_error() -> None:
    async def loop() -> None:
        raise RuntimeError("a defect")

    async def guard() -> None:
        await asyncio.Event().wait()

    with pytest.raises(RuntimeError, match="a defect"):
        await run_watched(loop(), guard(), asyncio.Event(), grace=1)
