"""The benchmark's report: the baseline beside the targets, the spread of the rounds, the CPU by
process, the backlog's fifths and the last line, worked out from a run's own figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.bench import document, plot
from tools.bench.__main__ import last_line
from tools.bench.backlog import fifth_rates
from tools.bench.cpu import BENCH, KAFKA, MARIADB, TEMPORAL
from tools.bench.rounds import spread
from tools.bench.targets import baseline_rows


def _round(stack_ms: float, rate: float, activities: int) -> dict[str, Any]:
    cpu = {
        TEMPORAL: stack_ms * 0.5,
        "worker": stack_ms * 0.3,
        "consumer": stack_ms * 0.05,
        KAFKA: stack_ms * 0.05,
        MARIADB: stack_ms * 0.1,
        BENCH: 2.0,
    }
    history = {
        "events": 38,
        "workflow_tasks": 5,
        "activities": activities,
        "local_activity_markers": 1,
        "markers": 2,
        "upserts": 7,
    }
    return {
        "orders_per_s": rate,
        "cpu_ms": cpu,
        "completed_per_s": [0, 5, 10, 10, 3],
        "history_per_order": history,
        "mysql_per_order": {"transactions": activities * 1.5, "statements": stack_ms / 4},
    }


def _results() -> dict[str, Any]:
    """Two pairs: the seed costs 200 then 220 ms an order, the pipeline 100 then 100, the floor
    50 then 40; so vs_seed 2.0 and 2.2, overhead 2.0 and 2.5."""
    pairs = []
    for seed_ms, floor_ms in ((200.0, 50.0), (220.0, 40.0)):
        floor = {
            "temporal": {TEMPORAL: floor_ms / 2, "noop-worker": floor_ms / 4},
            "mysql": {MARIADB: floor_ms / 8, "bare_sql": floor_ms / 8, BENCH: 0.1},
        }
        pairs.append(
            {
                "floor": {"ms": floor_ms, "cpu_ms": floor},
                "seed": _round(seed_ms, 10.0, activities=10),
                "pipeline": _round(100.0, 14.0, activities=4),
                "vs_seed": seed_ms / 100,
                "overhead": 100 / floor_ms,
            }
        )
    return {
        "quick": True,
        "seconds": 240,
        "sizes": {"pairs": 2, "orders": 150, "floor": 200, "backlog": 600},
        "machine": {
            "cpus": 2,
            "cpu_model": "x",
            "memory_gb": 8,
            "load_average_at_start": [1.0],
            "python": "3.11",
            "system": "Linux",
            "temporal": "t",
            "commit": "abc",
        },
        "figures": {
            "pipeline_orders_per_s": spread([14.0, 14.0]),
            "pipeline_cpu_ms": spread([100.0, 100.0]),
            "seed_orders_per_s": spread([10.0, 10.0]),
            "seed_cpu_ms": spread([200.0, 220.0]),
            "floor_ms": spread([50.0, 40.0]),
            "vs_seed": spread([2.0, 2.2]),
            "overhead": spread([2.0, 2.5]),
            "rate_vs_seed": spread([1.4, 1.4]),
        },
        "pairs": pairs,
        "half_rate": {
            "offered_per_s": 7.0,
            "latency_cdf_ms": [100.0, 200.0, 2500.0],
            "latency_ms": {"p50": 210.0, "p95": 400.0, "p99": 2500.0, "max": 2600.0},
        },
        "backlog": {
            "orders": 600,
            "seconds": 50.0,
            "fifths_per_s": [8.0, 10.0, 10.0, 10.0, 10.0],
            "first_over_last": 0.8,
            "most_in_progress": 480,
            "bound": 200,
            "peak_rss_mb": {"consumer": 120.0, "worker": 310.0},
            "samples": [[0.0, 80.0, 90.0, 0], [1.0, 100.0, 200.0, 480]],
            "completed_per_s": [0, 8, 10],
        },
    }


def test_a_backlog_completing_slower_at_first_shows_in_its_first_fifth() -> None:
    # 100 completions: the first fifth's 0.2 s apart, every later one 0.1 s after the one before.
    times = [0.0]
    for n in range(1, 100):
        times.append(times[-1] + (0.2 if n < 20 else 0.1))

    rates = fifth_rates(times)

    assert rates[0] == pytest.approx(5.0)
    assert rates[1:] == pytest.approx([10.0, 10.0, 10.0, 10.0])


def test_the_baseline_shows_each_target_beside_the_run_and_whether_it_is_met() -> None:
    rows = baseline_rows(_results())

    assert "| 2.10 (2.00 to 2.20) | ≥ 2 | met |" in rows[0]
    assert "| 2.25 (2.00 to 2.50) | < 1.5 | not yet: 50% short |" in rows[1]
    assert "| 0.80 | ≥ 0.9 | not yet: 11% short |" in rows[2]
    assert "| 480 of 200 | ≤ 1 | not yet: 140% short |" in rows[3]
    assert "| 2.50 s | < 2 s | not yet: 25% short |" in rows[4]
    assert "| 120 MB | < 150 MB | met |" in rows[5]
    assert "| 310 MB | < 300 MB | not yet: 3% short |" in rows[6]


def test_a_figure_may_reach_an_inclusive_limit() -> None:
    results = _results()
    results["backlog"]["most_in_progress"] = 200

    assert "| 200 of 200 | ≤ 1 | met |" in baseline_rows(results)[3]


def test_the_cpu_table_totals_the_stack_and_keeps_the_bench_apart() -> None:
    table = "\n".join(document.cpu_table(_results()["pairs"]))

    # Medians of the two pairs: seed 200 and 220 ms, so 210; the floor 50 and 40, so 45.
    assert "| **the stack, all of it** | 45.0 | 210.0 | 100.0 |" in table
    assert "| worker | 16.9 | 63.0 | 30.0 |" in table  # the floor's no-op worker and script
    assert f"| {BENCH}: not counted | 0.1 | 2.0 | 2.0 |" in table


def test_the_mysql_table_gives_each_shape_the_server_counters_per_order() -> None:
    table = "\n".join(document.mysql_table(_results()["pairs"]))

    # Seed: 10 activities, so 15 transactions; 200 and 220 ms, so 50 and 55 statements.
    assert "| transactions | 15.0 | 6.0 |" in table
    assert "| statements | 52.5 | 25.0 |" in table
    assert "| CPU of the server (ms) | 21.0 | 10.0 |" in table


def test_the_last_line_carries_the_medians_of_the_rounds() -> None:
    assert last_line(_results()) == (
        "bench: pipeline=14.0 cpu_ms=100.0 floor_ms=45.0 overhead=2.25 vs_seed=2.10 "
        "backlog=0.80 p50=210 p99=2500"
    )


def test_the_report_and_its_plot_are_written(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    plot.draw(_results(), report.with_suffix(".png"))
    document.write(_results(), tmp_path / "bench-20261207T094519Z.json", report)

    text = report.read_text()
    assert "on 2026-12-07 09:45 UTC from [its results](bench-20261207T094519Z.json)" in text
    assert "| seed-shaped | 38 | 5 | 10 | 1 | 7 |" in text
    assert "| backlog of 600: orders/s in each fifth of the completions | 8.0, 10.0" in text
    assert report.with_suffix(".png").stat().st_size > 0


def test_the_report_links_its_results_from_the_folder_it_is_written_in(tmp_path: Path) -> None:
    results = tmp_path / "tools" / "bench" / "results" / "bench-20261207T094519Z.json"
    report = tmp_path / "docs" / "benchmarks.md"
    report.parent.mkdir()

    document.write(_results(), results, report)

    link = "[its results](../tools/bench/results/bench-20261207T094519Z.json)"
    assert link in report.read_text()
