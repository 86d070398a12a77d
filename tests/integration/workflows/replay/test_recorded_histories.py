"""A new worker meets workflows that older code started: recorded histories replay on it.

Every recorded path (`histories/**/*.json`, written by `record_histories.py` beside this file)
of every generation of the workflow replays on today's `OrderProcessingWorkflow` without a
non-determinism error. A copy of the workflow that calls one more activity fails to replay
them, which shows the replay really compares the code with the history; the same change
behind `workflow.patched(...)` replays.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.steps import OrderState, StepInput
    from schemas.workflow_io import (
        STEPS_IN_ONE_ACTIVITY,
        WORKFLOW_TYPE,
        OrderWorkflowInput,
        OrderWorkflowResult,
    )
    from tests.integration.workflows.replay.record_histories import HISTORIES, LATEST, PATHS
    from worker.activities import InventoryActivities
    from worker.steps import OrderStepActivities
    from worker.workflows import STEPS_ANNOUNCE_PATCH, OrderProcessingWorkflow

RECORDED = sorted(HISTORIES.rglob("*.json"))
ANNOUNCING = HISTORIES / STEPS_ANNOUNCE_PATCH
# The paths of the generations before MySQL decided the steps: they ran regular activities.
OLDER_PATHS = [
    "cancelled-confirmed", "cancelled-pending", "cancelled-processing-payment",
    "cancelled-reserving-stock", "cancelled-validating", "completed-after-cancel-window",
    "completed-after-payment-retries", "completed", "failed-insufficient-stock",
    "failed-payment-declined", "failed-price-mismatch", "failed-step-out-of-retries",
    "failed-total-mismatch", "failed-unknown-product", "operator-cancelled",
    "operator-completed-in-cancel-window", "operator-failed", "operator-overrides-rejected",
]  # fmt: skip
# Paths that reach the stock step, where the changed copies below differ from the recorded code.
RESERVING = ["completed", "failed-insufficient-stock", "cancelled-processing-payment"]


@workflow.defn(name=WORKFLOW_TYPE)
class ReleasesBeforeReserving(OrderProcessingWorkflow):
    """A plausible change deployed carelessly: clear any old reservation before reserving."""

    @workflow.run
    async def process_order(self, input: OrderWorkflowInput) -> OrderWorkflowResult:
        return await super().process_order(input)

    async def _reserve_stock(self) -> None:
        await self._execute(InventoryActivities.release_stock, self._stock)
        await super()._reserve_stock()


@workflow.defn(name=WORKFLOW_TYPE)
class ReleasesBeforeReservingWhenPatched(OrderProcessingWorkflow):
    """The same change, deployed as Temporal asks: only runs that reach it after it shipped."""

    @workflow.run
    async def process_order(self, input: OrderWorkflowInput) -> OrderWorkflowResult:
        return await super().process_order(input)

    async def _reserve_stock(self) -> None:
        if workflow.patched("release-before-reserve"):
            await self._execute(InventoryActivities.release_stock, self._stock)
        await super()._reserve_stock()


_In = TypeVar("_In", bound=BaseModel)


def load(path: Path) -> WorkflowHistory:
    document = json.loads(path.read_text())
    started = document["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started["workflowId"], document)


def replayer(workflow_class: type[OrderProcessingWorkflow]) -> Replayer:
    return Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)


@workflow.defn(name=WORKFLOW_TYPE)
class ValidatesAgainBeforeReserving(OrderProcessingWorkflow):
    """The same kind of change to today's steps: one more step before them."""

    @workflow.run
    async def process_order(self, input: OrderWorkflowInput) -> OrderWorkflowResult:
        return await super().process_order(input)

    async def _mysql_step(
        self,
        run_step: Callable[[OrderStepActivities, _In], Awaitable[OrderState]],
        arg: _In,
        *,
        must_land: bool = False,
        steps: int = 1,
    ) -> OrderState:
        if run_step == OrderStepActivities.advance_order:
            validate = StepInput(order_id=self._input.order_id)
            await super()._mysql_step(OrderStepActivities.validate_order, validate)
        return await super()._mysql_step(run_step, arg, must_land=must_land, steps=steps)


@workflow.defn(name=WORKFLOW_TYPE)
class KeepsStepsLocal(OrderProcessingWorkflow):
    """Today's orders taken as the version before: their steps retried locally throughout."""

    @workflow.run
    async def process_order(self, input: OrderWorkflowInput) -> OrderWorkflowResult:
        self._input = input.model_copy(update={"steps_version": STEPS_IN_ONE_ACTIVITY})
        return await super().process_order(self._input)


def test_every_path_of_the_workflow_has_a_recorded_history() -> None:
    assert sorted(path.stem for path in LATEST.glob("*.json")) == sorted(PATHS)


@pytest.mark.parametrize("directory", [HISTORIES, ANNOUNCING], ids=["unpatched", "announcing"])
def test_the_older_generations_of_the_workflow_left_their_histories_too(directory: Path) -> None:
    assert sorted(path.stem for path in directory.glob("*.json")) == sorted(OLDER_PATHS)


@pytest.mark.parametrize(
    "path", RECORDED, ids=[str(path.relative_to(HISTORIES).with_suffix("")) for path in RECORDED]
)
async def test_a_recorded_history_replays_on_todays_workflow(path: Path) -> None:
    history = load(path)

    result = await replayer(OrderProcessingWorkflow).replay_workflow(history)

    assert result.replay_failure is None
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")


@pytest.mark.parametrize("directory", [HISTORIES, ANNOUNCING], ids=["unpatched", "announcing"])
@pytest.mark.parametrize("name", RESERVING)
async def test_an_unguarded_extra_activity_fails_the_replay_as_nondeterministic(
    name: str, directory: Path
) -> None:
    history = load(directory / f"{name}.json")

    with pytest.raises(workflow.NondeterminismError, match=r"TMPRL1100.*'release_stock'"):
        await replayer(ReleasesBeforeReserving).replay_workflow(history)


@pytest.mark.parametrize(
    "name", ["completed", "failed-insufficient-stock", "failed-payment-declined"]
)
async def test_an_unguarded_extra_step_fails_the_replay_of_todays_histories(name: str) -> None:
    history = load(LATEST / f"{name}.json")

    with pytest.raises(workflow.NondeterminismError):
        await replayer(ValidatesAgainBeforeReserving).replay_workflow(history)


@pytest.mark.parametrize("name", ["completed-through-an-outage", "failed-step-out-of-tolerance"])
async def test_a_step_the_server_retried_does_not_replay_as_a_local_one(name: str) -> None:
    history = load(LATEST / f"{name}.json")

    with pytest.raises(workflow.NondeterminismError):
        await replayer(KeepsStepsLocal).replay_workflow(history)


async def test_the_same_change_behind_workflow_patched_replays_every_recorded_history() -> None:
    histories = [load(path) for path in RECORDED]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer(ReleasesBeforeReservingWhenPatched).replay_workflows(each())

    assert results.replay_failures == {}
