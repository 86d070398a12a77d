"""MySQL away for longer than a step's few local attempts: the server retries the step, the
order's history stays the size it was, and the order goes on once MySQL is back, or, past its
outage tolerance, stops and is compensated. Orders started before the server retried their
steps keep retrying them locally, as they began."""

from __future__ import annotations

import asyncio
import time

import pytest

from schemas.order import OrderStatus
from schemas.workflow_io import (
    STEPS_IN_ONE_ACTIVITY,
    STEPS_RETRIED_BY_THE_SERVER,
    OrderWorkflowInput,
)
from tests.integration.workflows.fakes import an_order
from tests.integration.workflows.harness import OrderHandle, OrderRunner, order_id_of
from tests.integration.workflows.shop import STOCK, ControlledSteps, Shop
from tests.integration.workflows.test_order_outcomes import HAPPY
from tools.bench.history import history_figures

S = OrderStatus
SHIPPED_RETRIES = {
    name: OrderWorkflowInput.model_fields[name].default
    for name in ("activity_timeout_seconds", "activity_initial_interval_seconds")
}
# With the shipped retries a step is tried locally at 0, 1, 3, 7 and 15 s, then by the server
# at 15, 16, 18, 22, 30 and 46 s: MySQL is back in between.
HANDED_OVER_BY = 20.0
BACK_AT = 36.0
# The order's start and first task, one heartbeat of the task (at 8 s), the local attempts'
# marker, the step scheduled, started and completed, the task that ends the order, its final
# status upserted, its completion: 16. Kept local, the order wrote three events more every 8 s
# of the outage, 28 by the time it completed.
MOST_EVENTS = 19
LOCAL_ATTEMPTS = 5
TOLERANCE_HOURS = 2 / 3600


async def figures(handle: OrderHandle) -> dict[str, int]:
    return history_figures(list((await handle.fetch_history()).events))


async def test_mysql_away_past_a_steps_local_attempts_holds_the_order_without_growing_its_history(
    orders: OrderRunner, shop: Shop, steps: ControlledSteps, order_id: int
) -> None:
    steps.outage("begin_order")
    started = time.monotonic()
    handle = await orders.start(an_order(order_id).model_copy(update=SHIPPED_RETRIES))

    await asyncio.sleep(HANDED_OVER_BY)
    handed_over = await figures(handle)
    await asyncio.sleep(BACK_AT - (time.monotonic() - started))
    still_away = await figures(handle)
    steps.end_outage("begin_order")
    async with asyncio.timeout(30):
        result = await handle.result()
    ended = await figures(handle)

    assert still_away["events"] == handed_over["events"], "the history grew while MySQL was away"
    assert handed_over["activities"] == 1, "the step is the server's to retry"
    assert result.status is S.COMPLETED
    assert await shop.statuses(order_id_of(handle)) == HAPPY
    assert ended["events"] <= MOST_EVENTS
    assert (ended["local_activity_markers"], ended["activities"]) == (1, 1)


@pytest.mark.parametrize(
    ("version", "activities"),
    [
        pytest.param(STEPS_IN_ONE_ACTIVITY, 0, id="started-before-locally-throughout"),
        pytest.param(STEPS_RETRIED_BY_THE_SERVER, 1, id="then-by-the-server"),
    ],
)
async def test_a_step_failing_more_often_than_its_local_attempts_is_retried_until_it_lands(
    orders: OrderRunner,
    shop: Shop,
    steps: ControlledSteps,
    order_id: int,
    version: int,
    activities: int,
) -> None:
    steps.outage("begin_order", failures=LOCAL_ATTEMPTS + 2)

    handle = await orders.start(an_order(order_id).model_copy(update={"steps_version": version}))
    result = await orders.result_of(handle)

    assert result.status is S.COMPLETED
    assert steps.calls["begin_order"] == LOCAL_ATTEMPTS + 3
    assert await shop.statuses(order_id_of(handle)) == HAPPY
    assert (await figures(handle))["activities"] == activities


async def test_an_outage_past_the_orders_tolerance_fails_it_once_its_stop_lands(
    orders: OrderRunner, shop: Shop, steps: ControlledSteps, order_id: int
) -> None:
    """The server ends the step's retries at the order's tolerance; the stop, meeting MySQL
    away too, is retried past its local attempts for as long as it takes."""
    steps.outage("begin_order")
    steps.outage("begin_stop", failures=LOCAL_ATTEMPTS + 2)

    handle = await orders.start(an_order(order_id, outage_tolerance_hours=TOLERANCE_HOURS))
    result = await orders.result_of(handle)

    reason = "step_failed:validate_order"
    assert (result.status, result.reason) == (S.FAILED, reason)
    # PENDING has no way to FAILED: the validation that failed is entered first.
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:2], (3, "FAILED", reason)]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
    assert (await figures(handle))["activities"] == 2  # the step and the stop
