"""A backlog: orders published with the consumer stopped, then the consumer and worker started.

What it shows: whether the pipeline completes orders as fast while the backlog is large as
once it has shrunk (the first fifth of the completions against the last), the most orders in
progress at once against the consumer's bound (MAX_ORDERS_IN_PROGRESS), and the peak memory of
the consumer and the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import databases
import psutil

from consumer.settings import ConsumerSettings
from db.orders import COUNT_IN_PROGRESS
from tools.bench.fresh import fresh_setup
from tools.bench.kafka import kafka_options
from tools.bench.orders import new_refs, publish, status_reader
from tools.bench.report import Progress, per_second
from tools.bench.server import server_quiet
from tools.bench.watch import Watch

BOUND_SETTING = "MAX_ORDERS_IN_PROGRESS"

MB = 1024 * 1024


def fifth_rates(times: list[float]) -> list[float]:
    """Orders completed per second in each fifth of the completions, in time order. A fifth
    runs from the last completion of the one before (for the first: the first completion, so
    the processes' start-up is left out) to its own last; its rate is its completions over
    that span."""
    ordered = sorted(times)
    ends = [0] + [round(len(ordered) * k / 5) - 1 for k in range(1, 6)]
    return [
        (ends[k] - ends[k - 1]) / max(ordered[ends[k]] - ordered[ends[k - 1]], 1e-3)
        for k in range(1, 6)
    ]


async def drain_backlog(watch: Watch, base: dict[str, str], count: int) -> dict[str, Any]:
    await server_quiet(watch)
    async with fresh_setup(base, stock=count * 2 + 10) as setup:
        kafka = kafka_options(base)
        refs = new_refs("m", count)
        await publish(kafka, setup.orders_topic, refs, None, Progress("backlog: publish", count))
        async with status_reader(kafka, setup.status_topic) as reader:
            started = time.time()
            pids = [watch.start(name, name, setup.env).pid for name in ("consumer", "worker")]
            samples: list[list[float]] = []
            sampler = asyncio.create_task(_sample(pids, setup.database_url, started, samples))
            try:
                progress = Progress("backlog: drain", count)
                limit = 300 + count  # at least one order a second
                await watch.until(asyncio.wait_for(reader.wait_for(refs, progress), limit))
                high_water = [_high_water_mb(pid) for pid in pids]
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                watch.stop("consumer", "worker")
        completed = [reader.completed[ref] for ref in refs]
    rates = fifth_rates(completed)
    return {
        "orders": count,
        "seconds": max(completed) - started,
        "fifths_per_s": rates,
        "first_over_last": rates[0] / rates[-1],
        "most_in_progress": max((s[3] for s in samples), default=0),
        "bound": bound_of(setup.env),
        "peak_rss_mb": {
            "consumer": max(high_water[0], *(s[1] for s in samples)),
            "worker": max(high_water[1], *(s[2] for s in samples)),
        },
        "samples": samples,  # [seconds, consumer MB, worker MB, orders in progress], each second
        "completed_per_s": per_second(completed, started),
    }


def bound_of(env: dict[str, str]) -> int:
    """The consumer's bound on orders in progress, as its settings read it from `env`."""
    default = ConsumerSettings.model_fields["max_orders_in_progress"].default
    return int(env.get(BOUND_SETTING, default))


async def _sample(pids: list[int], url: str, began: float, samples: list[list[float]]) -> None:
    """Once a second: the consumer's and the worker's resident memory, and the orders in
    progress as flow control counts them."""
    consumer, worker = (psutil.Process(pid) for pid in pids)
    database = databases.Database(url)
    await database.connect()
    try:
        while True:
            in_progress = int(await database.fetch_val(COUNT_IN_PROGRESS))
            now = round(time.time() - began, 1)
            samples.append([now, _rss_mb(consumer), _rss_mb(worker), in_progress])
            await asyncio.sleep(1)
    finally:
        await database.disconnect()


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
