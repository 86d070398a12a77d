"""Peak memory of the consumer and the worker while they drain a backlog published beforehand."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import databases
import psutil

from bench.ingest import STARTED
from bench.kafka import kafka_options
from bench.pipeline import completed_times, fresh_setup, publish, start, stop
from bench.report import Progress

MB = 1024 * 1024


@dataclass(frozen=True)
class BacklogRun:
    published: int
    started: int  # workflows the consumer started
    completed: int  # orders that reached COMPLETED
    seconds: float  # from starting the processes to the end of the drain
    peak_rss_mb: dict[str, float]
    rss_mb: list[tuple[float, float, float]]  # (seconds, consumer, worker), once a second


async def drain_backlog(base: dict[str, str], count: int, within: float, logs: Path) -> BacklogRun:
    """Publish `count` orders with nothing running, then start the consumer and the worker and
    sample their resident memory until all orders complete or `within` seconds pass."""
    async with fresh_setup(base, stock=count * 2 + 10) as setup:
        refs = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        kafka = kafka_options(base)
        await publish(kafka, setup.orders_topic, refs, None, Progress("backlog: publish", count))
        processes = {name: start(name, setup.env, logs) for name in ("consumer", "worker")}
        pids = processes["consumer"].pid, processes["worker"].pid
        began = time.monotonic()
        samples: list[tuple[float, float, float]] = []
        sampler = asyncio.create_task(_sample(pids, began, samples))
        try:
            progress = Progress("backlog: drain", count)
            done = await completed_times(kafka, setup.status_topic, set(refs), progress, within)
            seconds = time.monotonic() - began
            high_water = [_high_water_mb(pid) for pid in pids]
        finally:
            sampler.cancel()
            stop(list(processes.values()))
        started = await _count(setup.env["DATABASE_URL"], STARTED)
    peaks = {
        "consumer": max(high_water[0], *(s[1] for s in samples)),
        "worker": max(high_water[1], *(s[2] for s in samples)),
    }
    return BacklogRun(count, started, len(done), seconds, peaks, samples)


async def _sample(
    pids: tuple[int, int], began: float, samples: list[tuple[float, float, float]]
) -> None:
    """Append the consumer's and the worker's resident set size in MB, once a second."""
    consumer, worker = (psutil.Process(pid) for pid in pids)
    while True:
        samples.append((round(time.monotonic() - began, 1), _rss_mb(consumer), _rss_mb(worker)))
        await asyncio.sleep(1)


def _rss_mb(process: psutil.Process) -> float:
    return round(process.memory_info().rss / MB, 1)


def _high_water_mb(pid: int) -> float:
    """The kernel's own record of the peak (Linux's VmHWM), which catches a spike between two
    samples; 0 where there is no /proc."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _count(url: str, query: str) -> int:
    database = databases.Database(url)
    await database.connect()
    try:
        return int(await database.fetch_val(query))
    finally:
        await database.disconnect()
