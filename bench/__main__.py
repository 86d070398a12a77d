"""`python -m bench [--quick]`: every figure of the benchmark, measured in one run.

Stages: the ceiling and the seed-shaped baseline (no-op activities), the pipeline at full speed and
at half that rate, ingest (the consumer alone against bare workflow starts), growth (the pipeline
at three sizes) and the peak memory of the consumer and the worker draining a backlog.

Writes the figures as JSON under bench/results/; a full run also writes docs/benchmarks.md and
docs/benchmarks.png, a quick run its own under bench/results/quick/. Prints, last:
`bench: pipeline=<x> orders/s ceiling=<y> ratio=<x/y> seed_baseline=<z> p50=<ms> p99=<ms>`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench import document, machine, plot
from bench.backlog import drain_backlog
from bench.ceiling import workflows_per_second
from bench.cpu import CpuCost, CpuMeter, machine_processes
from bench.ingest import bare_starts_per_second, consumer_concurrency, consumer_starts_per_second
from bench.pipeline import PipelineRun, run_pipeline, stack_env, start, stop
from bench.report import Progress, cdf, per_second, percentile, write_results
from bench.temporal import connect
from observability.exit import exit_now

DOCS = Path(__file__).resolve().parent.parent / "docs"


@dataclass(frozen=True)
class Sizes:
    orders: int  # ceiling, seed baseline, and the pipeline at full speed and half rate
    ingest: int
    growth: tuple[int, ...]
    backlog: int
    drain_seconds: float  # the backlog's drain stops here, done or not


FULL = Sizes(orders=2000, ingest=5000, growth=(1000, 5000, 20000), backlog=50000, drain_seconds=300)
QUICK = Sizes(orders=200, ingest=1000, growth=(200, 400, 800), backlog=5000, drain_seconds=20)


async def measure_ceilings(
    client: Client, env: dict[str, str], count: int, logs: Path
) -> dict[str, tuple[float, CpuCost]]:
    """Each shape's workflows per second, and what a workflow costs each process."""
    queue = f"bench-noop-{uuid.uuid4().hex[:8]}"
    worker = start("bench.noop_worker", env, logs, queue)
    try:
        measured = {}
        for shape, name in (("project", "ceiling"), ("seed", "seed_baseline")):
            progress = Progress(f"{name} ({shape} shape)", count)
            meter = CpuMeter(machine_processes({"worker": worker}))
            rate = await workflows_per_second(client, queue, shape, count, 200, progress)
            measured[name] = (rate, meter.cost(count))
    finally:
        stop([worker])
    return measured


async def measure_ingest(
    client: Client, env: dict[str, str], count: int, logs: Path
) -> dict[str, float]:
    concurrency = consumer_concurrency(env)
    bare = await bare_starts_per_second(client, count, concurrency)
    consumer = await consumer_starts_per_second(env, count, logs)
    return {
        "orders": count,
        "concurrency": concurrency,
        "bare_starts_per_s": bare,
        "consumer_starts_per_s": consumer,
        "ratio": consumer / bare,
    }


async def measure_growth(
    env: dict[str, str], sizes: tuple[int, ...], logs: Path, measured: dict[int, PipelineRun]
) -> list[Any]:
    """The pipeline at full speed at each size; a size already in `measured` is not run again."""
    growth = []
    for size in sizes:
        run = measured.get(size) or await run_pipeline(
            env, size, None, f"growth: {size} orders", logs
        )
        rate = run.orders_per_second
        growth.append({"orders": size, "orders_per_s": rate, "ms_per_order": 1000 / rate})
    return growth


async def run(sizes: Sizes, quick: bool) -> dict[str, Any]:
    env = stack_env()
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    print(f"bench: the consumers' and workers' logs go to {logs}")
    described = machine.describe()
    client = await connect(env)
    ceilings = await measure_ceilings(client, env, sizes.orders, logs)
    (ceiling, ceiling_cpu), (seed, seed_cpu) = ceilings["ceiling"], ceilings["seed_baseline"]
    full = await run_pipeline(env, sizes.orders, None, "pipeline (full speed)", logs)
    half = await run_pipeline(
        env, sizes.orders, full.orders_per_second / 2, "pipeline (half of that rate)", logs
    )
    ingest = await measure_ingest(client, env, sizes.ingest, logs)
    growth = await measure_growth(env, sizes.growth, logs, {sizes.orders: full})
    backlog = await drain_backlog(env, sizes.backlog, sizes.drain_seconds, logs)
    return {
        "quick": quick,
        "sizes": asdict(sizes),
        "machine": described,
        "ceiling_workflows_per_s": ceiling,
        "seed_baseline_workflows_per_s": seed,
        "pipeline_orders_per_s": full.orders_per_second,
        "cpu_ms_per_order": full.cpu.ms_per_item,
        "cpu_ms_per_workflow": {
            "ceiling": ceiling_cpu.ms_per_item,
            "seed_baseline": seed_cpu.ms_per_item,
        },
        "cores_busy": {
            "ceiling": ceiling_cpu.cores_busy,
            "seed_baseline": seed_cpu.cores_busy,
            "pipeline": full.cpu.cores_busy,
        },
        "half_rate_orders_per_s": half.orders_per_second,
        "pipeline_latency_ms_full_speed": _latency(full.latencies_ms),
        "pipeline_latency_ms_half_rate": _latency(half.latencies_ms),
        "pipeline_timeline": {"full_speed": _timeline(full), "half_rate": _timeline(half)},
        "latency_cdf_ms": {
            "full_speed": cdf(full.latencies_ms),
            "half_rate": cdf(half.latencies_ms),
        },
        "ingest": ingest,
        "growth": growth,
        "backlog": asdict(backlog) | {"drain_limit_s": sizes.drain_seconds},
    }


def _latency(values: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}": percentile(values, q) for q in (0.5, 0.95, 0.99)} | {
        "max": max(values)
    }


def _timeline(pipeline: PipelineRun) -> dict[str, list[int]]:
    origin = min(pipeline.published)
    return {
        "published_per_s": per_second(pipeline.published, origin),
        "completed_per_s": per_second(pipeline.completed, origin),
    }


def _summary(results: dict[str, Any]) -> str:
    half, ingest = results["pipeline_latency_ms_half_rate"], results["ingest"]
    growth = " ".join(f"{g['orders']}:{g['orders_per_s']:.1f}" for g in results["growth"])
    backlog = results["backlog"]
    return (
        f"bench: half rate p50={half['p50']:.0f} p95={half['p95']:.0f} p99={half['p99']:.0f} "
        f"max={half['max']:.0f} ms; ingest={ingest['consumer_starts_per_s']:.1f}/"
        f"{ingest['bare_starts_per_s']:.1f} starts/s ratio={ingest['ratio']:.2f}; "
        f"growth orders/s {growth}; peak RSS consumer={backlog['peak_rss_mb']['consumer']:.0f} "
        f"worker={backlog['peak_rss_mb']['worker']:.0f} MB "
        f"({backlog['completed']}/{backlog['published']} drained)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, a few minutes")
    quick = parser.parse_args().quick
    results = asyncio.run(run(QUICK if quick else FULL, quick))
    path = write_results(results, "quick" if quick else "")
    report = path.parent / "benchmarks.md" if quick else DOCS / "benchmarks.md"
    plot.draw(results, report.with_suffix(".png"))
    document.write(results, path, report)
    x, y = results["pipeline_orders_per_s"], results["ceiling_workflows_per_s"]
    half = results["pipeline_latency_ms_half_rate"]
    print(f"bench: results in {path}, report in {report}")
    print(_summary(results))
    print(
        f"bench: pipeline={x:.1f} orders/s ceiling={y:.1f} ratio={x / y:.2f} "
        f"seed_baseline={results['seed_baseline_workflows_per_s']:.1f} "
        f"p50={half['p50']:.0f} p99={half['p99']:.0f}"
    )
    return 0


if __name__ == "__main__":
    exit_now(main())
