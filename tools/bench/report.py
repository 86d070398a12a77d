"""A progress line while a stage runs, and the report a run leaves behind."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
_STARTED = time.monotonic()


def elapsed() -> str:
    """How long the bench has been running, for its progress lines."""
    return f"{time.monotonic() - _STARTED:.0f} s in"


@dataclass
class Progress:
    """One line per stage, rewritten in place: `stage   120/500  24%  3.1s`."""

    stage: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def advance(self, count: int = 1) -> None:
        step = max(self.total // 50, 1)
        before, self.done = self.done, self.done + count
        if self.done == self.total or before // step != self.done // step:
            self._draw()

    def close(self) -> None:
        """End the line of a stage that stopped short of its total."""
        if self.done < self.total:
            self._draw()
            sys.stderr.write("\n")

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.started
        share = self.done / self.total if self.total else 1.0
        end = "\n" if self.done >= self.total else ""
        sys.stderr.write(
            f"\r{self.stage:28} {self.done:>6}/{self.total:<6} {share:4.0%} {elapsed:6.1f}s{end}"
        )
        sys.stderr.flush()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def latency(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max."""
    quantiles = {f"p{round(q * 100)}": percentile(values, q) for q in (0.5, 0.95, 0.99)}
    return quantiles | {"max": max(values)}


def cdf(values: list[float], points: int = 100) -> list[float]:
    """The values at shares 0, 1/points, …, 1: the CDF in a size that fits the results."""
    ordered = sorted(values)
    return [round(ordered[round(n / points * (len(ordered) - 1))], 1) for n in range(points + 1)]


def per_second(times: list[float], origin: float) -> list[int]:
    """How many of `times` fell in each second after `origin`."""
    counts = [0] * (int(max(times) - origin) + 1)
    for moment in times:
        counts[int(moment - origin)] += 1
    return counts


def write_results(results: dict[str, Any], folder: str = "") -> Path:
    """`tools/bench/results[/folder]/bench-<UTC time>.json`."""
    directory = RESULTS / folder
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path
