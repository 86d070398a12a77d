"""Faults 11 and 12: a cancellation racing the payment, and fifty buyers racing for ten lamps."""

from __future__ import annotations

import asyncio

from schemas.workflow_io import SIGNAL_CANCEL_ORDER
from tests.faults.oracle import Expected, check, describe
from tests.faults.worker_faults import log_lines, order_history
from tests.harness import cancellation, order_placed
from tests.pipeline import Pipeline

LAMPS = [(7, 2, "49.00")]  # product 7 has 10 units
UP_TO_CONFIRMED = ["PENDING", "VALIDATING", "RESERVING_STOCK", "PROCESSING_PAYMENT", "CONFIRMED"]


async def payment_status(pipeline: Pipeline, ref: str) -> str | None:
    status = await pipeline.database.fetch_val(
        "SELECT p.status FROM payments p JOIN orders o ON o.id = p.order_id"
        " WHERE o.order_ref = :ref",
        {"ref": ref},
    )
    return None if status is None else str(status)


async def released_reservations(pipeline: Pipeline, ref: str) -> int:
    return await pipeline.count(
        "SELECT COUNT(*) FROM stock_reservations r JOIN orders o ON o.id = r.order_id"
        " WHERE o.order_ref = :ref AND r.released_at IS NOT NULL",
        {"ref": ref},
    )


async def test_a_cancel_during_the_payment_call_refunds_the_capture_and_releases_once(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker", ORDERING_FAULT="process_payment:slow:4")
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("race-pay", LAMPS))
    await log_lines(pipeline, "worker", "fault process_payment slow")
    await pipeline.publish.event(cancellation("race-pay"))
    await pipeline.statuses.wait_final(["race-pay"])

    problems = await check(
        pipeline, Expected(orders={"race-pay"}, statuses={"race-pay": "CANCELLED"})
    )
    history = await order_history(pipeline, "race-pay")

    assert problems == [], describe(problems)
    assert history.signalled_while_running(SIGNAL_CANCEL_ORDER, "process_payment")
    assert await payment_status(pipeline, "race-pay") == "REFUNDED"
    assert len(history.runs("refund_payment")) == 1
    assert len(history.runs("release_stock")) == 1
    assert await released_reservations(pipeline, "race-pay") == 1
    assert await pipeline.stock(7) == 10


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
    history = await order_history(pipeline, "race-confirmed")
    [payment] = history.runs("process_payment")
    [signal_event] = history.signals

    assert problems == [], describe(problems)
    assert pipeline.statuses.statuses("race-confirmed") == [*UP_TO_CONFIRMED, "CANCELLED"]
    assert payment.completed_event_id is not None
    assert signal_event > payment.completed_event_id  # the cancellation came after the capture
    assert await payment_status(pipeline, "race-confirmed") == "REFUNDED"
    assert len(history.runs("release_stock")) == 1
    assert await released_reservations(pipeline, "race-confirmed") == 1
    assert await pipeline.stock(7) == 10


async def test_a_cancel_during_the_stock_reservation_takes_no_payment(pipeline: Pipeline) -> None:
    pipeline.processes.start("worker", ORDERING_FAULT="reserve_stock:slow:4")
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("race-stock", LAMPS))
    await log_lines(pipeline, "worker", "fault reserve_stock slow")
    await pipeline.publish.event(cancellation("race-stock"))
    await pipeline.statuses.wait_final(["race-stock"])

    problems = await check(
        pipeline, Expected(orders={"race-stock"}, statuses={"race-stock": "CANCELLED"})
    )
    history = await order_history(pipeline, "race-stock")

    assert problems == [], describe(problems)
    assert history.signalled_while_running(SIGNAL_CANCEL_ORDER, "reserve_stock")
    assert "PROCESSING_PAYMENT" not in pipeline.statuses.statuses("race-stock")
    assert await payment_status(pipeline, "race-stock") is None
    assert history.runs("process_payment") == history.runs("refund_payment") == []
    assert len(history.runs("release_stock")) == 1
    assert await released_reservations(pipeline, "race-stock") == 1
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
        run.worker.split("@")[0]
        for ref in refs
        for run in (await order_history(pipeline, ref)).runs("reserve_stock")
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
