"""A cancellation racing the payment, the reservation or the cancel window, and
fifty buyers racing for ten lamps.

A cancellation arrives as customers send it: an `OrderCancellationRequested` on the orders
topic, which the consumer records on the order in MySQL and then signals. A step in flight
when it is recorded sees it in its next transaction; the workflow task running that step
cannot end the order with the signal unseen (the server refuses the completion, and the
workflow runs again, signal first), and the stop compensates from MySQL's rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from schemas.steps import ADVANCE_ORDER_STEP, STOP_ORDER_STEP
from schemas.workflow_io import SIGNAL_CANCEL_ORDER
from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline
from tests.support.worker_faults import (
    OrderHistory,
    log_lines,
    order_history,
    start_faulty_worker,
)

LAMPS = [(7, 2, "49.00")]  # product 7 has 10 units
UP_TO_CONFIRMED = ["PENDING", "VALIDATING", "RESERVING_STOCK", "PROCESSING_PAYMENT", "CONFIRMED"]
# The server refused to complete a workflow task because a signal came while it ran.
SIGNAL_DURING_TASK = "WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND"


async def money_and_cancellation(pipeline: Pipeline, ref: str) -> dict[str, Any]:
    """The order's payment row (status and times) and when its cancellation was recorded."""
    row = await pipeline.database.fetch_one(
        "SELECT p.status, p.intended_at, p.captured_at, p.refunded_at, o.cancel_requested_at"
        " FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.order_ref = :ref",
        {"ref": ref},
    )
    assert row is not None, ref
    return dict(row._mapping)


async def reservations(pipeline: Pipeline, ref: str, *, released: bool) -> int:
    return await pipeline.count(
        "SELECT COUNT(*) FROM stock_reservations r JOIN orders o ON o.id = r.order_id"
        " WHERE o.order_ref = :ref AND (r.released_at IS NOT NULL) = :released",
        {"ref": ref, "released": released},
    )


def signal_came_during_a_task(history: OrderHistory) -> bool:
    return SIGNAL_CANCEL_ORDER in history.signals.values() and any(
        task.how == SIGNAL_DURING_TASK for task in history.lost
    )


async def cancel_while_slowed(pipeline: Pipeline, point: str, ref: str) -> None:
    """Place an order on a worker slowed at `point`'s step (before its effect), and cancel it
    while the step waits."""
    start_faulty_worker(pipeline, f"{point}:slow:4")
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed(ref, LAMPS))
    await log_lines(pipeline, "worker", f"fault {point} slow")
    await pipeline.publish.event(cancellation(ref))
    await log_lines(pipeline, "consumer", "cancellation signalled")
    await pipeline.statuses.wait_final([ref])


async def test_a_cancel_during_the_payment_call_refunds_the_capture_and_releases_once(
    pipeline: Pipeline,
) -> None:
    """The cancellation is recorded after the payment's intent committed, while the gateway's
    call is in flight. The capture goes through; the step's second transaction sees the
    cancellation and confirms nothing; the stop refunds the capture by its key and releases
    the stock, each once."""
    await cancel_while_slowed(pipeline, "process_payment", "race-pay")

    problems = await check(
        pipeline, Expected(orders={"race-pay"}, statuses={"race-pay": "CANCELLED"})
    )
    money = await money_and_cancellation(pipeline, "race-pay")
    history = await order_history(pipeline, "race-pay")

    assert problems == [], describe(problems)
    assert money["intended_at"] < money["cancel_requested_at"] < money["captured_at"], money
    assert signal_came_during_a_task(history), history
    assert pipeline.statuses.statuses("race-pay") == [*UP_TO_CONFIRMED[:4], "CANCELLED"]
    assert money["status"] == "REFUNDED"
    assert money["refunded_at"] > money["captured_at"]
    assert history.step_counts()[STOP_ORDER_STEP] == 1
    assert await reservations(pipeline, "race-pay", released=True) == 1
    assert await reservations(pipeline, "race-pay", released=False) == 0
    assert await pipeline.stock(7) == 10  # given back once: twice would make it 12


async def test_a_cancel_while_confirmed_refunds_the_capture_and_releases_once(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="30")
    await pipeline.publish.event(order_placed("race-confirmed", LAMPS))
    await pipeline.statuses.wait_for(
        lambda: "CONFIRMED" in pipeline.statuses.statuses("race-confirmed")
    )
    await pipeline.publish.event(cancellation("race-confirmed"))
    # Well inside the 30 s window: the cancellation cut it short.
    await pipeline.statuses.wait_final(["race-confirmed"], within=20)

    problems = await check(
        pipeline, Expected(orders={"race-confirmed"}, statuses={"race-confirmed": "CANCELLED"})
    )
    money = await money_and_cancellation(pipeline, "race-confirmed")
    history = await order_history(pipeline, "race-confirmed")
    [payment] = history.step_runs(ADVANCE_ORDER_STEP)
    [signal_event] = history.signals

    assert problems == [], describe(problems)
    assert pipeline.statuses.statuses("race-confirmed") == [*UP_TO_CONFIRMED, "CANCELLED"]
    assert money["captured_at"] < money["cancel_requested_at"], money
    assert signal_event > payment.marker_event_id  # the cancellation came after the capture
    assert history.lost == [], history  # in the window, between two workflow tasks
    assert money["status"] == "REFUNDED"
    assert history.step_counts()[STOP_ORDER_STEP] == 1
    assert await reservations(pipeline, "race-confirmed", released=True) == 1
    assert await pipeline.stock(7) == 10


async def test_a_cancel_before_the_first_transaction_takes_no_stock_and_no_payment(
    pipeline: Pipeline,
) -> None:
    """The cancellation is recorded while the steps wait to begin the order's first
    transaction (validation, stock and the payment's intent): it sees the cancellation and
    goes no further than PENDING, so nothing is reserved, paid or released."""
    await cancel_while_slowed(pipeline, "reserve_stock", "race-stock")

    problems = await check(
        pipeline, Expected(orders={"race-stock"}, statuses={"race-stock": "CANCELLED"})
    )
    money = await money_and_cancellation(pipeline, "race-stock")
    history = await order_history(pipeline, "race-stock")

    assert problems == [], describe(problems)
    assert signal_came_during_a_task(history), history
    assert pipeline.statuses.statuses("race-stock") == ["PENDING", "CANCELLED"]
    assert money["status"] is None  # no payment row: no intent, no capture
    assert await reservations(pipeline, "race-stock", released=True) == 0
    assert await reservations(pipeline, "race-stock", released=False) == 0
    assert history.step_counts()[STOP_ORDER_STEP] == 1
    assert await pipeline.stock(7) == 10


async def test_fifty_buyers_of_ten_lamps_on_two_consumers_and_two_workers_get_exactly_ten(
    pipeline: Pipeline,
) -> None:
    for name in ("worker-a", "worker-b"):
        pipeline.processes.start("worker", name=name)
    for name in ("consumer-a", "consumer-b"):
        pipeline.processes.start("consumer", name=name)
    for name in ("consumer-a", "consumer-b"):  # both in the group before the orders arrive
        await log_lines(pipeline, name, "partitions assigned: ['")
    refs = [f"lamp-{n}" for n in range(50)]
    await asyncio.gather(
        *(pipeline.publish.event(order_placed(ref, [(7, 1, "49.00")])) for ref in refs)
    )
    finals = await pipeline.statuses.wait_final(refs, within=120)

    problems = await check(pipeline, Expected(orders=set(refs)))
    reasons = [
        max(pipeline.statuses.by_ref[ref], key=lambda e: e["sequence"])["reason"] for ref in refs
    ]
    workers = {
        step.worker.split("@")[0]
        for ref in refs
        for step in (await order_history(pipeline, ref)).step_runs(ADVANCE_ORDER_STEP)
    }
    pids = {str(pipeline.processes.running[name].pid) for name in ("worker-a", "worker-b")}

    assert problems == [], describe(problems)
    assert list(finals.values()).count("COMPLETED") == 10
    assert list(finals.values()).count("FAILED") == 40
    assert reasons.count("insufficient_stock:product=7") == 40
    assert await pipeline.stock(7) == 0
    assert workers == pids, "both workers reserved stock"
    for name in ("consumer-a", "consumer-b"):
        assert "order workflow started" in pipeline.processes.log(name), name
