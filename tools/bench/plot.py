"""The run's picture: throughput of each round over time, the latency CDF at half rate, and the
backlog's drain with the memory it took."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def draw(results: dict[str, Any], path: Path) -> None:
    figure, ((rounds, latency), (backlog, memory)) = plt.subplots(2, 2, figsize=(14, 9))
    _rounds(rounds, results)
    _latency(latency, results["half_rate"])
    _backlog(backlog, results["backlog"])
    _memory(memory, results["backlog"])
    for axes in (rounds, latency, backlog, memory):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    if results["quick"]:
        figure.suptitle("quick run (reduced sizes)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _rounds(axes: Axes, results: dict[str, Any]) -> None:
    styles = {"pipeline": ("tab:blue", "-"), "seed": ("tab:orange", "--")}
    for n, pair in enumerate(results["pairs"], start=1):
        for shape, (colour, line) in styles.items():
            axes.stairs(
                pair[shape]["completed_per_s"], color=colour, linestyle=line,
                label=f"{'seed-shaped' if shape == 'seed' else shape}, round {n}",
            )  # fmt: skip
    axes.set(
        title=f"Rounds of {results['sizes']['orders']} orders: COMPLETED per second",
        xlabel="seconds since the round's first publish",
        ylabel="orders per second",
    )


def _latency(axes: Axes, half: dict[str, Any]) -> None:
    quantiles = half["latency_cdf_ms"]
    shares = [n / (len(quantiles) - 1) for n in range(len(quantiles))]
    axes.plot([q / 1000 for q in quantiles], shares, label="pipeline")
    axes.set(
        title=f"Latency at half rate ({half['offered_per_s']:.1f} orders/s): publish → COMPLETED",
        xlabel="seconds (log scale)",
        ylabel="share of orders",
        xscale="log",
    )


def _backlog(axes: Axes, backlog: dict[str, Any]) -> None:
    axes.stairs(backlog["completed_per_s"], label="COMPLETED per second")
    seconds = [sample[0] for sample in backlog["samples"]]
    in_progress = axes.twinx()
    in_progress.plot(seconds, [s[3] for s in backlog["samples"]], color="tab:red")
    in_progress.set_ylabel("orders in progress (red)")
    axes.set(
        title=f"Backlog of {backlog['orders']} orders draining",
        xlabel="seconds since the processes started",
        ylabel="orders per second",
    )


def _memory(axes: Axes, backlog: dict[str, Any]) -> None:
    seconds = [sample[0] for sample in backlog["samples"]]
    for column, label in ((1, "consumer"), (2, "worker")):
        axes.plot(seconds, [sample[column] for sample in backlog["samples"]], label=label)
    axes.set(
        title="Resident memory while the backlog drains",
        xlabel="seconds since the processes started",
        ylabel="MB",
    )
