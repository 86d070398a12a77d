"""`python -m tools.bench [--quick]`: every figure of the benchmark, measured in one run.

Stages, on a Temporal dev server of the run's own: the floor (the physical work of an order,
bare), the seed-shaped pipeline and the shipped one in alternating rounds, the shipped one at
half its rate for latency, and a backlog. Writes the figures as JSON under tools/bench/results/; a
full run also writes docs/benchmarks.md and docs/benchmarks.png, a quick run its own under
tools/bench/results/quick/. Prints, last, the medians of the rounds:
`bench: pipeline=<orders/s> cpu_ms=<per order> floor_ms=<per order> overhead=<cpu/floor>
vs_seed=<ratio> backlog=<first/last fifth> p50=<ms> p99=<ms>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runtime.exit import exit_now
from tools.bench import document, plot
from tools.bench.report import write_results
from tools.bench.run import FULL, QUICK, run
from tools.bench.watch import ProcessExitedError, Watch

DOCS = Path(__file__).resolve().parents[2] / "docs"


def last_line(results: dict[str, Any]) -> str:
    medians = {name: spread["median"] for name, spread in results["figures"].items()}
    half = results["half_rate"]["latency_ms"]
    return (
        f"bench: pipeline={medians['pipeline_orders_per_s']:.1f} "
        f"cpu_ms={medians['pipeline_cpu_ms']:.1f} floor_ms={medians['floor_ms']:.1f} "
        f"overhead={medians['overhead']:.2f} vs_seed={medians['vs_seed']:.2f} "
        f"backlog={results['backlog']['first_over_last']:.2f} "
        f"p50={half['p50']:.0f} p99={half['p99']:.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, a few minutes")
    quick = parser.parse_args().quick
    # A new topic's leader is elected a moment after it is made: aiokafka retries, and logs
    # an error each time. A failure that matters reaches the bench as an exception.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    # Stopped with SIGTERM, the run unwinds as on Ctrl-C: every process it started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    print(f"bench: the processes' logs go to {logs}")
    began = time.monotonic()
    try:
        results = asyncio.run(run(QUICK if quick else FULL, quick, Watch(logs)))
    except ProcessExitedError as error:
        print(f"bench: failed: {error}", file=sys.stderr)
        return error.code if error.code > 0 else 1
    results["seconds"] = round(time.monotonic() - began)
    path = write_results(results, "quick" if quick else "")
    report = path.parent / "benchmarks.md" if quick else DOCS / "benchmarks.md"
    plot.draw(results, report.with_suffix(".png"))
    document.write(results, path, report)
    print(f"bench: results in {path}, report in {report} ({results['seconds']} s)")
    print(last_line(results))
    return 0


if __name__ == "__main__":
    exit_now(main())
