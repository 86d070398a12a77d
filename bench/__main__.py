"""`python -m bench [--quick]`: ceiling, seed-shaped baseline and pipeline, measured in one run.

Prints, last: `bench: pipeline=<x> orders/s ceiling=<y> ratio=<x/y> seed_baseline=<z> p50=<ms>
p99=<ms>`, and writes the figures as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.ceiling import workflows_per_second
from bench.pipeline import run_pipeline, stack_env, start
from bench.report import Progress, percentile, write_results
from observability.exit import exit_now


async def measure_ceilings(env: dict[str, str], count: int, logs: Path) -> dict[str, float]:
    client = await Client.connect(
        env["TEMPORAL_ADDRESS"],
        namespace=env.get("TEMPORAL_NAMESPACE", "ordering-system"),
        data_converter=pydantic_data_converter,
    )
    queue = f"bench-noop-{uuid.uuid4().hex[:8]}"
    worker = start("bench.noop_worker", env, logs, queue)
    try:
        rates = {}
        for shape, name in (("project", "ceiling"), ("seed", "seed_baseline")):
            progress = Progress(f"{name} ({shape} shape)", count)
            rates[name] = await workflows_per_second(client, queue, shape, count, 200, progress)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return rates


async def run(quick: bool) -> dict[str, Any]:
    env = stack_env()
    count = 200 if quick else 2000
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    rates = await measure_ceilings(env, count, logs)
    full = await run_pipeline(env, count, None, "pipeline (full speed)", logs)
    half = await run_pipeline(
        env, count, full.orders_per_second / 2, "pipeline (half of that rate)", logs
    )
    return {
        "quick": quick,
        "orders": count,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "ceiling_workflows_per_s": rates["ceiling"],
        "seed_baseline_workflows_per_s": rates["seed_baseline"],
        "pipeline_orders_per_s": full.orders_per_second,
        "pipeline_latency_ms_full_speed": _latency(full.latencies_ms),
        "pipeline_latency_ms_half_rate": _latency(half.latencies_ms),
        "half_rate_orders_per_s": half.orders_per_second,
        "logs": str(logs),
    }


def _latency(values: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}": percentile(values, q) for q in (0.5, 0.95, 0.99)} | {
        "max": max(values)
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, a few minutes")
    arguments = parser.parse_args()
    results = asyncio.run(run(arguments.quick))
    path = write_results(results)
    x, y = results["pipeline_orders_per_s"], results["ceiling_workflows_per_s"]
    half = results["pipeline_latency_ms_half_rate"]
    print(f"bench: results in {path}")
    print(
        f"bench: pipeline={x:.1f} orders/s ceiling={y:.1f} ratio={x / y:.2f} "
        f"seed_baseline={results['seed_baseline_workflows_per_s']:.1f} "
        f"p50={half['p50']:.0f} p99={half['p99']:.0f}"
    )
    return 0


if __name__ == "__main__":
    exit_now(main())
