"""The report a run writes: every figure beside its target, and what it was measured on."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cpu import BENCH

CEILING_RATIO = 0.85  # the pipeline's orders per second over the ceiling's workflows, at least
SEED_RATIO = 2.0  # the pipeline's orders per second over the seed-shaped baseline's, at least
P99_MS = 2000  # publish to COMPLETED at half the full rate, below
INGEST_RATIO = 0.8  # the consumer's starts per second over bare starts, at least
GROWTH_SPREAD = 0.8  # the slowest size's orders per second over the fastest's, at least
BUSY_SHARE = 0.75  # of the cores, on average over a stage: it is bound by CPU
RSS_MB = {"consumer": 150, "worker": 300}  # peak resident memory draining the backlog, below


def write(results: dict[str, Any], results_path: Path, report: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        *_preamble(results, os.path.relpath(results_path, report.parent)),
        "",
        "| figure | value | target | result |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in _rows(results)),
        "",
        f"![throughput, latency CDF and memory]({report.with_suffix('.png').name})",
        "",
        "## What binds",
        "",
        *_binds(results),
        "",
        "## How each figure is measured",
        "",
        *_method(results),
        "",
        "## Machine",
        "",
        *_machine(results["machine"]),
    ]
    report.write_text("\n".join(lines) + "\n")


def _preamble(results: dict[str, Any], results_link: str) -> list[str]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if results["quick"]:
        return [
            "**Quick run** (reduced sizes): a smoke test of the bench, not the project's figures.",
            "",
            f"Written by `make bench QUICK=1` on {when} from [its results]({results_link}); "
            "every quick run rewrites it.",
        ]
    return [
        f"Written by `make bench` on {when} from [its results]({results_link}); "
        "the next full run rewrites it. What binds, and the workflow shapes measured: "
        "[performance.md](performance.md)."
    ]


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    ceiling, pipeline = results["ceiling_workflows_per_s"], results["pipeline_orders_per_s"]
    ingest, backlog = results["ingest"], results["backlog"]
    seed, half = results["seed_baseline_workflows_per_s"], results["pipeline_latency_ms_half_rate"]
    growth = results["growth"]
    rates = [size["orders_per_s"] for size in growth]
    spread = min(rates) / max(rates)
    rows = [
        ("ceiling: project workflow, no-op activities", f"{ceiling:.1f} workflows/s", "", ""),
        ("seed-shaped baseline, no-op activities",
         f"{results['seed_baseline_workflows_per_s']:.1f} workflows/s", "", ""),
        ("pipeline at full speed", f"{pipeline:.1f} orders/s", "", ""),
        ("pipeline / ceiling", f"{pipeline / ceiling:.2f}", f"≥ {CEILING_RATIO}",
         _verdict(pipeline / ceiling, CEILING_RATIO, at_least=True)),
        ("pipeline / seed-shaped baseline", f"{pipeline / seed:.2f}", f"≥ {SEED_RATIO}",
         _verdict(pipeline / seed, SEED_RATIO, at_least=True)),
        (f"latency at half rate ({results['half_rate_orders_per_s']:.1f} orders/s)",
         _latency(half), f"p99 < {P99_MS / 1000:.0f} s",
         _verdict(half["p99"], P99_MS, at_least=False)),
        ("latency at full speed", _latency(results["pipeline_latency_ms_full_speed"]), "", ""),
        *((f"CPU per order at full speed: {name}", f"{ms:.1f} ms", "", "")
          for name, ms in results["cpu_ms_per_order"].items()),
        *((f"CPU per workflow: {label}", _cpu(results["cpu_ms_per_workflow"][stage]), "", "")
          for stage, label in (("ceiling", "ceiling"), ("seed_baseline", "seed baseline"))),
        (f"ingest: bare workflow starts, {ingest['concurrency']} at once",
         f"{ingest['bare_starts_per_s']:.1f} starts/s", "", ""),
        ("ingest: the consumer alone, no worker",
         f"{ingest['consumer_starts_per_s']:.1f} starts/s", "", ""),
        ("ingest: consumer / bare", f"{ingest['ratio']:.2f}", f"≥ {INGEST_RATIO}",
         _verdict(ingest["ratio"], INGEST_RATIO, at_least=True)),
        *((f"growth: pipeline, {size['orders']} orders",
           f"{size['orders_per_s']:.1f} orders/s, {size['ms_per_order']:.1f} ms/order", "", "")
          for size in growth),
        ("growth: slowest size / fastest", f"{spread:.2f}", f"≥ {GROWTH_SPREAD}",
         _verdict(spread, GROWTH_SPREAD, at_least=True)),
        *((f"peak RSS of the {name}, {backlog['published']}-order backlog",
           f"{backlog['peak_rss_mb'][name]:.0f} MB", f"< {limit} MB",
           _verdict(backlog["peak_rss_mb"][name], limit, at_least=False))
          for name, limit in RSS_MB.items()),
    ]  # fmt: skip
    return [
        (figure, value, target or "—", verdict or "—") for figure, value, target, verdict in rows
    ]


def _binds(results: dict[str, Any]) -> list[str]:
    """The two ratio targets, checked against the CPU this run's stages cost."""
    busy, cpus = results["cores_busy"], results["machine"]["cpus"]
    seed = sum(results["cpu_ms_per_workflow"]["seed_baseline"].values())
    shape = sum(results["cpu_ms_per_workflow"]["ceiling"].values())
    per_order = results["cpu_ms_per_order"]
    pipeline = sum(per_order.values())
    added = pipeline - shape
    floor = {n: ms for n, ms in per_order.items() if n not in ("temporal server", "worker", BENCH)}
    allowed = (1 - CEILING_RATIO) * seed / SEED_RATIO
    worker_calls = per_order["worker"] - results["cpu_ms_per_workflow"]["ceiling"]["worker"]
    return [
        f"- The processes above kept {busy['ceiling']:.2f} of the machine's {cpus} cores busy on "
        f"average over the ceiling, {busy['seed_baseline']:.2f} over the seed baseline and "
        f"{busy['pipeline']:.2f} over the pipeline at full speed{_bound(busy, cpus)}",
        f"- CPU per workflow, all processes together: the seed-shaped baseline {seed:.0f} ms, "
        f"the project's shape with no-op activities {shape:.0f} ms, the pipeline {pipeline:.0f} "
        f"ms per order. The project's shape, doing nothing, costs {shape / seed:.0%} of the "
        f"seed's; the real work adds {added:.0f} ms an order to it.",
        f"- Pipeline ÷ seed baseline ≥ {SEED_RATIO} asks an order to cost at most "
        f"{seed / SEED_RATIO:.0f} ms. Pipeline ÷ ceiling ≥ {CEILING_RATIO} asks that what the "
        f"real work adds be at most {1 - CEILING_RATIO:.0%} of the order's cost: with the first, "
        f"at most {allowed:.1f} ms, against {added:.0f} ms here.",
        f"- Of that, the consumer, Kafka and MariaDB cost {sum(floor.values()):.1f} ms an order "
        f"({', '.join(f'{n} {ms:.1f}' for n, ms in floor.items())}), and the bench's own load "
        f"generator and status reader {per_order.get(BENCH, 0.0):.1f} ms more; the worker "
        f"spends {worker_calls:.1f} ms an order more than with no-op activities, making the calls "
        "to MySQL and Kafka. None of the servers' part runs in the ceiling stage, and every "
        "workflow shape pays it, give or take the statements its activities run: the contract's "
        "rows and events are the same. " + _verdict_on_targets(sum(floor.values()), added, allowed),
    ]


def _verdict_on_targets(floor: float, added: float, allowed: float) -> str:
    if floor > allowed:
        return (
            f"That alone is {floor / allowed:.1f} times what the two targets leave for the real "
            "work, so they cannot both be met on this machine, whatever the workflow's shape."
        )
    if added > allowed:
        return (
            "That fits in what the two targets leave; the rest of this design's real work does "
            "not, and a cheaper design could meet both."
        )
    return "The real work fits in what the two targets leave: a cheap enough shape could meet both."


def _bound(busy: dict[str, float], cpus: int) -> str:
    if min(busy.values()) >= BUSY_SHARE * cpus:
        return (
            ": each stage is bound by CPU, so its rate follows the CPU an order costs, and the "
            "ratios follow from those costs."
        )
    return (
        f". A stage using less than {BUSY_SHARE:.0%} of the cores was held back by something "
        "else as well, and the reasoning below, which takes rates from CPU costs, is only a guide."
    )


def _latency(ms: dict[str, float]) -> str:
    return " / ".join(f"{ms[q] / 1000:.2f}" for q in ("p50", "p95", "p99", "max")) + (
        " s (p50 / p95 / p99 / max)"
    )


def _cpu(ms_per_workflow: dict[str, float]) -> str:
    busy = {name: ms for name, ms in ms_per_workflow.items() if ms >= 0.05}
    return ", ".join(f"{name} {ms:.1f} ms" for name, ms in busy.items())


def _verdict(value: float, target: float, *, at_least: bool) -> str:
    met = value >= target if at_least else value < target
    return f"{'pass' if met else 'miss'} by {abs(value - target) / target:.0%}"


def _method(results: dict[str, Any]) -> list[str]:
    sizes, backlog, ingest = results["sizes"], results["backlog"], results["ingest"]
    if backlog["completed"] == backlog["published"]:
        drained = f"the whole backlog drained in {backlog['seconds']:.0f} s"
    else:
        started = "all" if backlog["started"] == backlog["published"] else backlog["started"]
        drained = (
            f"the drain stops after {backlog['drain_limit_s']:.0f} s, done or not: this run "
            f"completed {backlog['completed']} of {backlog['published']} orders, and the "
            f"consumer had started workflows for {started} of them; the peaks are over that span"
        )
    return [
        f"- **Ceiling and seed baseline**: {sizes['orders']} workflows each, 200 at once, "
        "straight to Temporal, on a worker whose activities do nothing: the project's workflow, "
        "and the seed design's shape (one activity per step and per status change).",
        f"- **Pipeline**: {sizes['orders']} orders published to Kafka, through the real "
        "consumer and worker, until each one's COMPLETED event; at full speed (published as fast "
        "as Kafka takes them), then open-loop at half that rate. Latency runs from publish to the "
        "COMPLETED event's `occurred_at`.",
        f"- **Ingest**: {ingest['orders']} orders published first, then the consumer alone (no "
        "worker) until every row has its workflow id, timed from its first start to its last. "
        "Bare starts are the consumer's own start call (same adapter and options) made "
        f"{ingest['concurrency']} at once, the consumer's `MAX_CONCURRENCY`, with no Kafka or "
        "MySQL in the way.",
        f"- **Growth**: the pipeline at full speed at {', '.join(map(str, sizes['growth']))} "
        "orders, each on a fresh database and topics (a size equal to the pipeline's above is "
        "that same run); per-order cost should not grow with size.",
        f"- **Memory**: {backlog['published']} orders published with nothing running, then the "
        "consumer and the worker started together; their resident memory is sampled once a "
        f"second and checked against the kernel's high-water mark (VmHWM). Here {drained}.",
        "- **CPU per order**: the consumer's and the worker's CPU time (user and system) over "
        "the full-speed pipeline run, and over the same span that of the local stack's servers "
        "(Temporal, Kafka, MariaDB) and of the bench's own load generator and status reader, "
        "each divided by the orders: what each order costs each process, and so what binds.",
        "- Every stage runs on its own database, topics and task queue; workflows a stage leaves "
        "running are terminated after it.",
    ]


def _machine(described: dict[str, Any]) -> list[str]:
    load = ", ".join(map(str, described["load_average_at_start"]))
    return [
        f"- {described['cpus']} CPUs ({described['cpu_model']}), "
        f"{described['memory_gb']} GB of memory; load average {load} when the run began "
        "(whatever else runs shares the CPUs with the stack and the bench)",
        f"- code at commit {described['commit']}",
        f"- Python {described['python']} on {described['system']}",
        f"- Temporal: {described['temporal']}",
        "- Kafka and MariaDB of the local stack (`make stack-up`), all on the same machine",
    ]
