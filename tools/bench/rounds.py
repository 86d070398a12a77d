"""The floor, the seed-shaped pipeline and the shipped one, measured in alternating rounds.

Each pair of rounds gives the same offered load to both designs (the same number of orders,
published the same way) on the same Temporal server; the first design of a pair alternates
(seed then pipeline, pipeline then seed, …), so whatever drifts over the run (the server's
growing history, other work on the machine) weighs on both alike. The floor is measured
before each pair, so each ratio is taken from figures measured minutes apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.bench.floor import Floor, measure_floor
from tools.bench.pipeline import Round, run_round
from tools.bench.report import elapsed
from tools.bench.watch import Watch


@dataclass(frozen=True)
class Pair:
    floor: Floor
    seed: Round
    pipeline: Round

    @property
    def vs_seed(self) -> float:
        """The pipeline's orders per CPU-second over the seed's: the seed's CPU per order over
        the pipeline's, every process of the stack counted, the bench's load not."""
        return self.seed.cpu.stack_ms() / self.pipeline.cpu.stack_ms()

    @property
    def overhead(self) -> float:
        """The pipeline's CPU per order over the floor's."""
        return self.pipeline.cpu.stack_ms() / self.floor.ms

    def summary(self) -> dict[str, Any]:
        return {
            "floor": self.floor.summary(),
            "seed": self.seed.summary(),
            "pipeline": self.pipeline.summary(),
            "vs_seed": self.vs_seed,
            "overhead": self.overhead,
        }


async def alternate(
    watch: Watch, base: dict[str, str], pairs: int, orders: int, floor_orders: int
) -> list[Pair]:
    measured = []
    for n in range(pairs):
        floor = await measure_floor(watch, base, floor_orders)
        order = ("seed", "pipeline") if n % 2 == 0 else ("pipeline", "seed")
        rounds = {shape: await run_round(watch, base, shape, orders) for shape in order}
        measured.append(Pair(floor, rounds["seed"], rounds["pipeline"]))
        print(
            f"bench: pair {n + 1}/{pairs}: vs_seed={measured[-1].vs_seed:.2f} "
            f"overhead={measured[-1].overhead:.2f} ({elapsed()})"
        )
    return measured


def spread(values: list[float]) -> dict[str, float]:
    """The median, and the least and the most, of one figure over the rounds."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


FIGURES: dict[str, Callable[[Pair], float]] = {
    "pipeline_orders_per_s": lambda p: p.pipeline.orders_per_second,
    "pipeline_cpu_ms": lambda p: p.pipeline.cpu.stack_ms(),
    "seed_orders_per_s": lambda p: p.seed.orders_per_second,
    "seed_cpu_ms": lambda p: p.seed.cpu.stack_ms(),
    "floor_ms": lambda p: p.floor.ms,
    "overhead": lambda p: p.overhead,
    "vs_seed": lambda p: p.vs_seed,
    # Orders per second alone, for comparison: it moves with whatever else the cores run.
    "rate_vs_seed": lambda p: p.pipeline.orders_per_second / p.seed.orders_per_second,
}


def figures(pairs: list[Pair]) -> dict[str, dict[str, float]]:
    """Each figure of the rounds, as its median and range."""
    return {name: spread([value(pair) for pair in pairs]) for name, value in FIGURES.items()}
