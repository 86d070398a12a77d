"""What the consumer fault tests watch: a process's exit and log, the group's committed offsets,
and which partition an order's key lands on."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from tests.support.pipeline import Pipeline

PARTITIONS = 3  # the test topics' partition count (tests/conftest.py)

_ASSIGNED = re.compile(r"partitions assigned: \[(.*)\]")


def partition_of(ref: str) -> int:
    """The partition Kafka's default partitioner puts a message keyed `ref` on."""
    return int(murmur2(ref.encode()) & 0x7FFFFFFF) % PARTITIONS


async def exit_code(pipeline: Pipeline, name: str, within: float = 60) -> int:
    """Wait for the process `name` to end by itself; its exit code."""
    process = pipeline.processes.running[name]
    await wait_until(lambda: process.poll() is not None, within)
    del pipeline.processes.running[name]
    return process.wait()


def log_count(pipeline: Pipeline, name: str, text: str) -> int:
    return pipeline.processes.log(name).count(text)


async def wait_until(condition: Callable[[], bool], within: float = 60) -> None:
    """Poll `condition` (a log, a process) until it holds; TimeoutError after `within`."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.1)


async def wait_for_log(
    pipeline: Pipeline, name: str, text: str, *, times: int = 1, within: float = 60
) -> None:
    await wait_until(lambda: log_count(pipeline, name, text) >= times, within)


def assignments(pipeline: Pipeline, name: str) -> list[set[int]]:
    """Every partition assignment the consumer `name` has logged, in order."""
    return [
        {int(p) for p in re.findall(r":(\d+)'", match)}
        for match in _ASSIGNED.findall(pipeline.processes.log(name))
    ]


class CommittedOffsets:
    """The consumer group's committed offsets, read through the admin API, and every reading a
    background watch has taken of them."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._group = pipeline.processes.env["KAFKA_CONSUMER_GROUP"]
        self._topic = pipeline.topics.orders
        self._admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.endpoints.kafka_bootstrap)
        self.readings: list[dict[int, int]] = []

    async def __aenter__(self) -> CommittedOffsets:
        await self._admin.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._admin.close()

    async def read(self) -> dict[int, int]:
        """partition -> committed offset, for partitions with a commit."""
        offsets = await self._admin.list_consumer_group_offsets(self._group)
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == self._topic and meta.offset >= 0
        }

    async def reach(self, expected: dict[int, int], within: float = 60) -> bool:
        """Whether the committed offsets come to equal `expected` within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while True:
                    if await self.read() == expected:
                        return True
                    await asyncio.sleep(0.2)
        except TimeoutError:
            return False

    async def _watch(self, every: float) -> None:
        while True:
            self.readings.append(await self.read())
            await asyncio.sleep(every)

    @contextlib.asynccontextmanager
    async def watching(self, every: float = 0.25) -> AsyncIterator[CommittedOffsets]:
        """Read the offsets every `every` seconds while the block runs."""
        watch = asyncio.create_task(self._watch(every))
        try:
            yield self
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            self.readings.append(await self.read())


def going_back(readings: list[dict[int, int]]) -> list[str]:
    """Every reading in which a partition's committed offset is lower than before, or gone."""
    problems = []
    highest: dict[int, int] = {}
    for n, reading in enumerate(readings):
        for partition in sorted(highest.keys() | reading.keys()):
            offset = reading.get(partition, -1)
            if offset < highest.get(partition, -1):
                problems.append(f"reading {n}: partition {partition} back to {offset}")
            highest[partition] = max(offset, highest.get(partition, -1))
    return problems


def placement(refs: list[str]) -> dict[str, tuple[int, int]]:
    """ref -> (partition, offset) of `refs`, each published once, in order, to a new topic."""
    counts: dict[int, int] = {}
    placed = {}
    for ref in refs:
        partition = partition_of(ref)
        placed[ref] = (partition, counts.get(partition, 0))
        counts[partition] = counts.get(partition, 0) + 1
    return placed


def ends(refs: list[str]) -> dict[int, int]:
    """partition -> the offset after the last of `refs`, each published once, in order."""
    ends: dict[int, int] = {}
    for partition, offset in placement(refs).values():
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends
