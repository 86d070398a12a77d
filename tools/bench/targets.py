"""The targets the next change must reach, checked against a run's figures.

They are not this benchmark's bar: it reports the shipped pipeline as the baseline, and each
figure beside its target, so the next change is judged against the same measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    figure: str  # as the report names it
    limit: float
    at_least: bool  # the figure must reach the limit (else stay below it)
    unit: str = ""
    inclusive: bool = False  # a figure that must stay below the limit may reach it

    def wording(self) -> str:
        below = "≤" if self.inclusive else "<"
        return f"{'≥' if self.at_least else below} {self.limit:g}{self.unit}"

    def verdict(self, value: float) -> str:
        if self.at_least:
            met = value >= self.limit
        else:
            met = value <= self.limit if self.inclusive else value < self.limit
        gap = abs(value - self.limit) / self.limit
        return "met" if met else f"not yet: {gap:.0%} short"


TARGETS = {
    "vs_seed": Target("pipeline's orders per CPU-second ÷ the seed-shaped one's", 2.0, True),
    "overhead": Target("pipeline's CPU per order ÷ the floor's", 1.5, False),
    "backlog": Target("backlog: completion rate, first fifth ÷ last fifth", 0.9, True),
    "backlog_bound": Target(
        "backlog: most orders in progress at once ÷ MAX_ORDERS_IN_PROGRESS", 1.0, False, "", True
    ),
    "p99": Target("p99 publish → COMPLETED at half the pipeline's rate", 2.0, False, " s"),
    "consumer_rss": Target("peak RSS of the consumer, draining the backlog", 150, False, " MB"),
    "worker_rss": Target("peak RSS of the worker, draining the backlog", 300, False, " MB"),
}


def measured(results: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Each target's figure in this run, and how it is shown: medians with the rounds' range
    for the ratios, single values for the stages run once."""
    figures, backlog = results["figures"], results["backlog"]
    p99 = results["half_rate"]["latency_ms"]["p99"] / 1000
    rss = backlog["peak_rss_mb"]
    return {
        "vs_seed": (figures["vs_seed"]["median"], ranged(figures["vs_seed"])),
        "overhead": (figures["overhead"]["median"], ranged(figures["overhead"])),
        "backlog": (backlog["first_over_last"], f"{backlog['first_over_last']:.2f}"),
        "backlog_bound": (
            backlog["most_in_progress"] / backlog["bound"],
            f"{backlog['most_in_progress']:.0f} of {backlog['bound']}",
        ),
        "p99": (p99, f"{p99:.2f} s"),
        "consumer_rss": (rss["consumer"], f"{rss['consumer']:.0f} MB"),
        "worker_rss": (rss["worker"], f"{rss['worker']:.0f} MB"),
    }


def ranged(spread: dict[str, float], digits: int = 2, unit: str = "") -> str:
    """`1.23 (1.10 to 1.31)`: the median of the rounds, then the least and the most."""
    median, low, high = (f"{spread[k]:.{digits}f}" for k in ("median", "min", "max"))
    return f"{median}{unit} ({low} to {high})"


def baseline_rows(results: dict[str, Any]) -> list[str]:
    values = measured(results)
    return [
        f"| {target.figure} | {values[name][1]} | {target.wording()} | "
        f"{target.verdict(values[name][0])} |"
        for name, target in TARGETS.items()
    ]
