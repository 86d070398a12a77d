"""The run's picture: pipeline throughput over time, latency CDFs, and memory while draining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def draw(results: dict[str, Any], path: Path) -> None:
    figure, (throughput, latency, memory) = plt.subplots(1, 3, figsize=(16, 4.5))
    runs = (("full_speed", "full speed"), ("half_rate", "half rate"))
    for name, label in runs:
        throughput.stairs(results["pipeline_timeline"][name]["completed_per_s"], label=label)
    throughput.set(
        title=f"Pipeline, {results['sizes']['orders']} orders: COMPLETED per second",
        xlabel="seconds since the first publish",
        ylabel="orders per second",
    )

    for name, label in runs:
        quantiles = results["latency_cdf_ms"][name]
        shares = [n / (len(quantiles) - 1) for n in range(len(quantiles))]
        latency.plot([q / 1000 for q in quantiles], shares, label=label)
    latency.set(
        title="Latency, publish to COMPLETED",
        xlabel="seconds (log scale)",
        ylabel="share of orders",
        xscale="log",
    )

    backlog = results["backlog"]
    seconds = [sample[0] for sample in backlog["rss_mb"]]
    for column, label in ((1, "consumer"), (2, "worker")):
        memory.plot(seconds, [sample[column] for sample in backlog["rss_mb"]], label=label)
    memory.set(
        title=f"Resident memory, draining a {backlog['published']}-order backlog",
        xlabel="seconds since the processes started",
        ylabel="MB",
    )

    for axes in (throughput, latency, memory):
        axes.grid(alpha=0.3)
        axes.legend()
    if results["quick"]:
        figure.suptitle("quick run (reduced sizes)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
