"""What one happy-path order costs Temporal, counted from its history against a committed budget.

Every history event is a write to Temporal's database and every workflow task a round trip to
the worker, so a change that adds some makes every order dearer; the budget beside this test
(`history_budget.json`) makes such a change a decision, taken by editing the figure.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.order import OrderStatus
from tests.integration.workflows.fakes import an_order
from tests.integration.workflows.harness import OrderRunner
from tools.bench.history import history_figures

BUDGET = Path(__file__).with_name("history_budget.json")


def over_budget(measured: dict[str, int], budget: dict[str, int]) -> list[str]:
    return [
        f"{name}: {measured[name]} > {limit} (+{measured[name] - limit})"
        for name, limit in budget.items()
        if measured[name] > limit
    ]


async def test_a_happy_path_order_stays_within_its_history_budget(
    orders: OrderRunner, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id))
    assert (await orders.result_of(handle)).status == OrderStatus.COMPLETED
    history = await handle.fetch_history()
    budget = {k: v for k, v in json.loads(BUDGET.read_text()).items() if not k.startswith("_")}

    measured = history_figures(list(history.events))

    assert set(measured) == set(budget), "the budget names every figure the test counts"
    overruns = over_budget(measured, budget)
    assert not overruns, f"the order's history grew past {BUDGET.name}: {'; '.join(overruns)}"


def test_the_budget_names_which_figure_grew_and_by_how_much() -> None:
    budget = {"events": 38, "workflow_tasks": 5, "upserts": 7}

    overruns = over_budget({"events": 41, "workflow_tasks": 5, "upserts": 6}, budget)

    assert overruns == ["events: 41 > 38 (+3)"]


async def test_an_order_started_without_the_steps_version_takes_its_steps_one_by_one(
    orders: OrderRunner, order_id: int
) -> None:
    # As a consumer from before the version was in the input starts it, during an upgrade:
    # today's worker still runs that shape, behind its patch marker, to the same end.
    handle = await orders.start(an_order(order_id).model_copy(update={"steps_version": 0}))

    result = await orders.result_of(handle)
    figures = history_figures(list((await handle.fetch_history()).events))

    assert result.status == OrderStatus.COMPLETED
    assert (figures["local_activity_markers"], figures["markers"]) == (4, 5)
