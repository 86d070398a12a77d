"""The benchmark report's reasoning about what binds, worked out from a run's own figures."""

from __future__ import annotations

from typing import Any

from bench import document
from bench.cpu import BENCH


def _results(floor_ms: float, worker_ms: float = 44.0, ceiling_cores: float = 1.9) -> Any:
    """A run whose seed shape costs 140 ms a workflow and the project's 105 ms: the two ratios
    leave 70 ms an order, and 10.5 ms of it for what the pipeline adds to its shape."""
    return {
        "machine": {"cpus": 2},
        "cores_busy": {"ceiling": ceiling_cores, "seed_baseline": 1.9, "pipeline": 1.8},
        "cpu_ms_per_workflow": {
            "seed_baseline": {"temporal server": 100.0, "worker": 38.0, BENCH: 2.0},
            "ceiling": {"temporal server": 70.0, "worker": 33.0, BENCH: 2.0},
        },
        "cpu_ms_per_order": {
            "temporal server": 70.0,
            "worker": worker_ms,
            "consumer": floor_ms / 2,
            "mariadb server": floor_ms / 2,
            BENCH: 3.0,
        },
    }


def _binds(results: Any) -> str:
    return "\n".join(document._binds(results))


def test_a_floor_beyond_the_budget_makes_the_two_targets_unreachable() -> None:
    text = _binds(_results(floor_ms=14.0))

    assert "the seed-shaped baseline 140 ms" in text
    assert "the project's shape with no-op activities 105 ms" in text
    assert "the pipeline 131 ms per order" in text
    assert "costs 75% of the seed's; the real work adds 26 ms an order" in text
    assert "at most 70 ms" in text
    assert "at most 10.5 ms, against 26 ms here" in text
    assert "cost 14.0 ms an order (consumer 7.0, mariadb server 7.0)" in text
    assert "status reader 3.0 ms more; the worker spends 11.0 ms an order more" in text
    assert "1.3 times what the two targets leave" in text
    assert "cannot both be met on this machine" in text


def test_a_floor_within_the_budget_points_at_the_rest_of_the_real_work() -> None:
    text = _binds(_results(floor_ms=8.0))

    assert "cannot both be met" not in text
    assert "a cheaper design could meet both" in text


def test_real_work_within_the_budget_leaves_both_targets_open() -> None:
    text = _binds(_results(floor_ms=4.0, worker_ms=33.0))

    assert "the real work adds 5 ms an order" in text
    assert "a cheap enough shape could meet both" in text


def test_a_stage_not_bound_by_cpu_makes_the_reasoning_only_a_guide() -> None:
    assert "each stage is bound by CPU" in _binds(_results(14.0, ceiling_cores=1.6))

    held_back = _binds(_results(14.0, ceiling_cores=1.2))

    assert "each stage is bound by CPU" not in held_back
    assert "is only a guide" in held_back
