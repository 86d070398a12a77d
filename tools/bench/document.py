"""The report a run writes: the shipped pipeline as a baseline beside the next change's targets,
every figure with the spread of its rounds, what each order costs each process, and how it
was all measured."""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench import method
from tools.bench.cpu import BENCH, KAFKA, MARIADB, TEMPORAL
from tools.bench.targets import baseline_rows, ranged

FIGURES = (  # (key in results["figures"], what it is, digits, unit)
    ("pipeline_orders_per_s", "pipeline, orders per second", 1, ""),
    ("pipeline_cpu_ms", "pipeline, CPU per order", 1, " ms"),
    ("seed_orders_per_s", "seed-shaped pipeline, orders per second", 1, ""),
    ("seed_cpu_ms", "seed-shaped pipeline, CPU per order", 1, " ms"),
    ("floor_ms", "floor, CPU per order", 1, " ms"),
    ("vs_seed", "vs_seed: pipeline's orders per CPU-second ÷ seed-shaped", 2, ""),
    ("overhead", "overhead: pipeline's CPU per order ÷ floor", 2, ""),
    ("rate_vs_seed", "pipeline's orders per second ÷ seed-shaped (not a target)", 2, ""),
)
PROCESSES = (TEMPORAL, KAFKA, MARIADB, "worker", "consumer")
SHAPES = ("seed", "pipeline")
HISTORY = ("events", "workflow_tasks", "activities", "local_activity_markers", "upserts")


def write(results: dict[str, Any], results_path: Path, report: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        *_preamble(results, results_path, os.path.relpath(results_path, report.parent)),
        "",
        "## The shipped pipeline, the baseline for the next change",
        "",
        "| figure | this run | target | |",
        "|---|---|---|---|",
        *baseline_rows(results),
        "",
        f"## Figures: median of {len(results['pairs'])} rounds (least to most)",
        "",
        "| figure | value |",
        "|---|---|",
        *figure_rows(results),
        "",
        f"![throughput, latency CDF, backlog and memory]({report.with_suffix('.png').name})",
        "",
        "## CPU per order, by process (medians of the rounds, ms)",
        "",
        *cpu_table(results["pairs"]),
        "",
        "## What the MySQL primary did per order (medians of the rounds)",
        "",
        *mysql_table(results["pairs"]),
        "",
        "## One order's workflow history",
        "",
        *history_table(results["pairs"]),
        "",
        *method.sections(results),
    ]
    report.write_text("\n".join(lines) + "\n")


def _preamble(results: dict[str, Any], results_path: Path, results_link: str) -> list[str]:
    # The run's own time, from its results' name, so a report written again from them says so.
    stamp = results_path.stem.removeprefix("bench-")
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    when_text = when.strftime("%Y-%m-%d %H:%M UTC")
    took = f"; it took {results['seconds'] / 60:.0f} min" if "seconds" in results else ""
    if results["quick"]:
        return [
            "**Quick run** (reduced sizes): a smoke test of the bench, not the project's figures.",
            "",
            f"Written by `make bench QUICK=1` on {when_text} from [its results]({results_link})"
            f"{took}; every quick run rewrites it.",
        ]
    return [
        f"Written by `make bench` on {when_text} from [its results]({results_link}){took}; "
        "the next full run rewrites it. What binds, and the workflow shapes measured: "
        "[performance.md](performance.md)."
    ]


def figure_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        f"| {label} | {ranged(results['figures'][key], digits, unit)} |"
        for key, label, digits, unit in FIGURES
    ]
    half, backlog = results["half_rate"], results["backlog"]
    quantiles = " / ".join(f"{half['latency_ms'][q] / 1000:.2f}" for q in ("p50", "p95", "p99"))
    fifths = ", ".join(f"{rate:.1f}" for rate in backlog["fifths_per_s"])
    return [
        *rows,
        f"| latency at half rate ({half['offered_per_s']:.1f} orders/s offered), p50 / p95 / "
        f"p99 / max | {quantiles} / {half['latency_ms']['max'] / 1000:.2f} s |",
        f"| backlog of {backlog['orders']}: orders/s in each fifth of the completions | {fifths} |",
        f"| backlog: the most orders in progress at once (sampled each second), against the"
        f" consumer's bound | {backlog['most_in_progress']:.0f} of {backlog['bound']} |",
        f"| backlog: drained in | {backlog['seconds']:.0f} s |",
    ]


def cpu_table(pairs: list[dict[str, Any]]) -> list[str]:
    """Floor, seed-shaped, pipeline: each process's CPU per order, the stack's total, and the
    bench's own load apart. The floor's scripts stand in for the worker and the consumer."""
    floor = _median([_floor_by_process(pair["floor"]["cpu_ms"]) for pair in pairs])
    seed = _median([pair["seed"]["cpu_ms"] for pair in pairs])
    pipeline = _median([pair["pipeline"]["cpu_ms"] for pair in pairs])
    columns = (floor, seed, pipeline)

    def row(name: str, values: list[float | None]) -> str:
        shown = ("—" if v is None else f"{v:.1f}" for v in values)
        return f"| {name} | {' | '.join(shown)} |"

    return [
        "| process | floor | seed-shaped | pipeline |",
        "|---|---|---|---|",
        *(row(name, [c.get(name) for c in columns]) for name in PROCESSES),
        row("**the stack, all of it**", [_stack(column) for column in columns]),
        row(f"{BENCH}: not counted", [c.get(BENCH) for c in columns]),
    ]


def _stack(cost: dict[str, float]) -> float:
    return sum(ms for name, ms in cost.items() if name != BENCH)


def _floor_by_process(parts: dict[str, dict[str, float]]) -> dict[str, float]:
    """The floor's parts summed by process; its scripts and no-op worker under "worker"."""
    summed: dict[str, float] = {}
    for part in parts.values():
        for name, ms in part.items():
            key = name if name in (TEMPORAL, KAFKA, MARIADB, BENCH) else "worker"
            summed[key] = summed.get(key, 0.0) + ms
    return summed


def _median(costs: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(cost[name] for cost in costs) for name in costs[0]}


def mysql_table(pairs: list[dict[str, Any]]) -> list[str]:
    """The server's own counters per order, seed-shaped and shipped: what one primary carries
    (docs/scaling.md does the arithmetic)."""
    if any("mysql_per_order" not in pair["pipeline"] for pair in pairs):
        return ["Not measured by this run."]
    seed, pipeline = (_median([p[shape]["mysql_per_order"] for p in pairs]) for shape in SHAPES)
    seed_cpu, pipeline_cpu = (_median([p[shape]["cpu_ms"] for p in pairs]) for shape in SHAPES)
    return [
        "| per order | seed-shaped | pipeline |",
        "|---|---|---|",
        *(f"| {name} | {seed[name]:.1f} | {pipeline[name]:.1f} |" for name in pipeline),
        f"| CPU of the server (ms) | {seed_cpu[MARIADB]:.1f} | {pipeline_cpu[MARIADB]:.1f} |",
    ]


def history_table(pairs: list[dict[str, Any]]) -> list[str]:
    seed, pipeline = (pairs[-1][shape]["history_per_order"] for shape in SHAPES)
    return [
        "| | " + " | ".join(name.replace("_", " ") for name in HISTORY) + " |",
        "|---|" + "---|" * len(HISTORY),
        "| seed-shaped | " + " | ".join(str(seed[name]) for name in HISTORY) + " |",
        "| pipeline | " + " | ".join(str(pipeline[name]) for name in HISTORY) + " |",
    ]
