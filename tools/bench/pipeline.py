"""One round: orders through Kafka, the project's consumer, a worker, and status events out.

The worker is the project's (`pipeline`) or the seed-shaped one (`seed`); everything else is
the same. Each round starts its processes on resources of its own, runs a few orders through
to warm them up, then meters the measured orders from their first publish to their last
COMPLETED event, and checks the rows they left in MySQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tools.bench.cpu import KAFKA, MARIADB, TEMPORAL, CpuCost, CpuMeter, processes
from tools.bench.effects import check_effects
from tools.bench.fresh import Setup, fresh_setup
from tools.bench.history import order_history
from tools.bench.kafka import kafka_options
from tools.bench.mysql_load import read_counters
from tools.bench.orders import new_refs, publish, status_reader
from tools.bench.report import Progress, cdf, latency, per_second
from tools.bench.server import server_quiet
from tools.bench.temporal import connect, until_closed
from tools.bench.watch import Watch

WORKERS = {"pipeline": "worker", "seed": "tools.bench.seed_worker"}
SEED_ACTIVITIES = 10  # six statuses and four steps: the seed shape, not the project's
WARM_UP = 10  # orders run through before the meter starts: start-up and first workflows
START_SECONDS = 180


@dataclass(frozen=True)
class Round:
    shape: str
    orders_per_second: float
    cpu: CpuCost
    published: list[float]  # epoch seconds, one per order
    completed: list[float]  # when each order entered COMPLETED, in the same order
    effects: dict[str, float]  # MySQL rows per order
    mysql: dict[str, float]  # what the MySQL server did per order (`tools.bench.mysql_load`)
    history: dict[str, int]  # one order's workflow history, counted

    @property
    def latencies_ms(self) -> list[float]:
        pairs = zip(self.published, self.completed, strict=True)
        return [(end - begin) * 1000 for begin, end in pairs]

    def summary(self) -> dict[str, Any]:
        return {
            "orders": len(self.published),
            "orders_per_s": self.orders_per_second,
            "cpu_ms": self.cpu.ms_per_item,
            "stack_cpu_ms": self.cpu.stack_ms(),
            "cores_busy": self.cpu.cores_busy,
            "latency_ms": latency(self.latencies_ms),
            "latency_cdf_ms": cdf(self.latencies_ms),
            "completed_per_s": per_second(self.completed, min(self.published)),
            "effects_per_order": self.effects,
            "mysql_per_order": self.mysql,
            "history_per_order": self.history,
        }


async def run_round(
    watch: Watch, base: dict[str, str], shape: str, count: int, rate: float | None = None
) -> Round:
    """`count` orders published as fast as Kafka takes them, or open-loop at `rate` a second."""
    label = shape if rate is None else f"{shape} at {rate:.1f}/s"
    await server_quiet(watch)
    async with fresh_setup(base, stock=(count + WARM_UP) * 2 + 10) as setup:
        watch.start("worker", WORKERS[shape], setup.env)
        watch.start("consumer", "consumer", setup.env)
        try:
            sent, done, cpu, mysql = await _measure(watch, setup, count, rate, label)
        finally:
            watch.stop("worker", "consumer")
        effects = await check_effects(setup.database_url)
        history = await order_history(setup.env, setup.database_url, next(iter(sent)))
    if shape == "seed" and history["activities"] != SEED_ACTIVITIES:
        raise RuntimeError(f"the seed round's orders ran {history['activities']} activities")
    published, completed = [sent[ref] for ref in sent], [done[ref] for ref in sent]
    rate_seen = count / (max(completed) - min(published))
    return Round(shape, rate_seen, cpu, published, completed, effects, mysql, history)


async def _measure(
    watch: Watch, setup: Setup, count: int, rate: float | None, label: str
) -> tuple[dict[str, float], dict[str, float], CpuCost, dict[str, float]]:
    kafka = kafka_options(setup.env)
    async with status_reader(kafka, setup.status_topic) as reader:
        warm = new_refs("w", WARM_UP)
        await watch.until(publish(kafka, setup.orders_topic, warm, None))
        await watch.until(asyncio.wait_for(reader.wait_for(warm), START_SECONDS))
        refs, progress = new_refs("b", count), Progress(label, count)
        children = watch.processes("worker", "consumer", TEMPORAL)
        meter = CpuMeter(processes(children, KAFKA, MARIADB))
        counters = await read_counters(setup.database_url)
        sent, _ = await watch.until(
            asyncio.wait_for(
                asyncio.gather(
                    publish(kafka, setup.orders_topic, refs, rate),
                    reader.wait_for(refs, progress),
                ),
                timeout=START_SECONDS + count,
            )
        )
        client = await connect(setup.env)
        await watch.until(asyncio.wait_for(until_closed(client, setup.task_queue), 120))
        cpu = meter.cost(count)
        mysql = counters.per_item(await read_counters(setup.database_url), count)
        wrong = reader.missing_events(warm + refs)
    if wrong:
        raise RuntimeError(f"{len(wrong)} orders lack some of their status events 1 to 6")
    return sent, {ref: reader.completed[ref] for ref in refs}, cpu, mysql
