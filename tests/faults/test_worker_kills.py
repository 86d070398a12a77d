"""A worker killed (kill -9) inside a step's transaction or
between a step's two transactions, while the gateway's capture is under way; a worker
crashed between a stop's release of the stock and its refund, and one crashed between Kafka's
acks for a batch of status events and the deletion of their outbox rows.

Nothing of the step reaches Temporal (its workflow task is lost and times out); MySQL holds
what the step committed and nothing of what it had not. The next worker runs the steps again
from what MySQL holds: an uncommitted transaction is as if it never began, a committed intent
is taken up by the same capture, a stop half done is finished from the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import databases

from schemas.steps import ADVANCE_ORDER_STEP, STOP_ORDER_STEP
from tests.support.fault_points import CRASH_EXIT_CODE
from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline
from tests.support.worker_faults import (
    effect_row,
    event_copies,
    exit_code,
    history_lines,
    log_lines,
    order_history,
    outbox_events,
    start_faulty_worker,
    wait_for_empty_outbox,
)

LAMPS = [(7, 2, "49.00")]  # product 7 has 10 units


@contextlib.asynccontextmanager
async def lamp_row_locked(pipeline: Pipeline) -> AsyncIterator[databases.core.Connection]:
    """Hold the lamp's row lock on a connection of its own, which reads uncommitted rows,
    until the block ends: a reservation of lamps waits on it in the middle of its
    transaction, having written what comes before the stock."""
    holder = databases.Database(str(pipeline.database.url))
    await holder.connect()
    try:
        async with holder.connection() as conn:
            await conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            async with conn.transaction():
                await conn.fetch_one("SELECT id FROM products WHERE id = 7 FOR UPDATE")
                yield conn
    finally:
        await holder.disconnect()


async def wait_for_dirty_status(
    conn: databases.core.Connection, ref: str, status: str, within: float = 60
) -> None:
    """Wait until `conn` (reading uncommitted rows) sees order `ref` in `status`."""
    query = "SELECT status FROM orders WHERE order_ref = :ref"
    async with asyncio.timeout(within):
        while True:
            if await conn.fetch_val(query, {"ref": ref}) == status:
                return
            await asyncio.sleep(0.1)


async def relayed(pipeline: Pipeline, ref: str, status: str) -> None:
    """Wait until the relay has sent `status` and deleted every row it sent: a kill then
    cannot catch the relay between the two, and any repeat would be the step's."""
    await pipeline.statuses.wait_for(lambda: status in pipeline.statuses.statuses(ref))
    await wait_for_empty_outbox(pipeline)


async def test_a_worker_killed_inside_the_reservation_transaction_leaves_none_of_it(
    pipeline: Pipeline,
) -> None:
    """The order's first transaction has entered PENDING, VALIDATING and RESERVING_STOCK
    (rows, history lines, outbox events) and waits for the lamp's row when its worker is
    killed. MySQL rolls the whole transaction back with the dead connection, so no event of it
    ever leaves; the next worker takes the order from its start, once, and writes each status
    once."""
    pipeline.processes.start("worker")
    killed_pid = pipeline.processes.running["worker"].pid
    pipeline.processes.start("consumer")
    async with lamp_row_locked(pipeline) as dirty:
        await pipeline.publish.event(order_placed("kill-in-trx", LAMPS))
        await wait_for_dirty_status(dirty, "kill-in-trx", "RESERVING_STOCK")
        row = await pipeline.order_row("kill-in-trx")
        assert row is not None
        committed = (row["status"], row["status_sequence"])
        code = pipeline.processes.kill("worker")
    seen_before_restart = pipeline.statuses.statuses("kill-in-trx")
    pipeline.processes.start("worker")
    restarted_pid = pipeline.processes.running["worker"].pid
    await pipeline.statuses.wait_final(["kill-in-trx"])

    problems = await check(
        pipeline, Expected(orders={"kill-in-trx"}, statuses={"kill-in-trx": "COMPLETED"})
    )
    history = await order_history(pipeline, "kill-in-trx")
    [steps] = history.step_runs(ADVANCE_ORDER_STEP)
    reservation = await effect_row(
        pipeline, "SELECT t.quantity FROM stock_reservations t", "kill-in-trx"
    )
    copies = event_copies(pipeline, ["kill-in-trx"])

    assert problems == [], describe(problems)  # including: each event one content
    assert code == -signal.SIGKILL
    assert committed == ("PENDING", 0)  # as the consumer stored it: the steps' were unseen
    assert seen_before_restart == []
    assert history.lost_by(killed_pid), history
    assert steps.worker.startswith(f"{restarted_pid}@"), steps
    assert reservation["quantity"] == 2
    assert await pipeline.stock(7) == 10 - 2
    assert await history_lines(pipeline, "kill-in-trx") == list(range(1, 7))
    assert set(copies.values()) == {1}, copies


async def test_a_worker_killed_during_the_payment_call_takes_the_payment_once(
    pipeline: Pipeline,
) -> None:
    """The payment's intent is committed and the gateway's call under way when its worker is
    killed: the capture is in doubt. The next worker finds the intent at PROCESSING_PAYMENT
    and captures under the same key, completing the order with its one payment row."""
    start_faulty_worker(pipeline, "process_payment:slow:30")
    killed_pid = pipeline.processes.running["worker"].pid
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("kill-in-pay", LAMPS))
    await log_lines(pipeline, "worker", "fault process_payment slow")
    await relayed(pipeline, "kill-in-pay", "PROCESSING_PAYMENT")
    in_doubt = await effect_row(
        pipeline, "SELECT t.status, o.status AS order_status FROM payments t", "kill-in-pay"
    )
    killed_at = datetime.now(UTC).replace(tzinfo=None)
    code = pipeline.processes.kill("worker")
    pipeline.processes.start("worker")
    restarted_pid = pipeline.processes.running["worker"].pid
    await pipeline.statuses.wait_final(["kill-in-pay"])

    problems = await check(
        pipeline, Expected(orders={"kill-in-pay"}, statuses={"kill-in-pay": "COMPLETED"})
    )
    history = await order_history(pipeline, "kill-in-pay")
    [steps] = history.step_runs(ADVANCE_ORDER_STEP)
    payment = await effect_row(
        pipeline,
        "SELECT t.status, t.idempotency_key, t.intended_at, t.captured_at FROM payments t",
        "kill-in-pay",
    )

    assert problems == [], describe(problems)
    assert code == -signal.SIGKILL
    assert in_doubt == {"status": "INTENDED", "order_status": "PROCESSING_PAYMENT"}
    assert history.lost_by(killed_pid), history
    assert steps.worker.startswith(f"{restarted_pid}@"), steps
    # The intent committed before the kill, the capture after it, under the order's key.
    assert payment["status"] == "CAPTURED"
    assert payment["intended_at"] < killed_at < payment["captured_at"], payment
    assert payment["idempotency_key"] == history.workflow_id  # `order-<id>`
    assert set(event_copies(pipeline, ["kill-in-pay"]).values()) == {1}


async def test_a_worker_killed_between_releasing_the_stock_and_refunding_does_each_once(
    pipeline: Pipeline,
) -> None:
    """A cancellation in the cancel window: the stop's first transaction has released the
    stock (the refund now due) when its worker dies, before the refund. The next worker's
    stop finds the stock released and the capture standing, in MySQL: it refunds the capture
    by its key and releases nothing more."""
    start_faulty_worker(pipeline, "release_stock:crash_after_effect")
    crashed_pid = pipeline.processes.running["worker"].pid
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="30")
    await pipeline.publish.event(order_placed("kill-in-stop", LAMPS))
    await pipeline.statuses.wait_for(
        lambda: "CONFIRMED" in pipeline.statuses.statuses("kill-in-stop")
    )
    await pipeline.publish.event(cancellation("kill-in-stop"))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    half_stopped = await effect_row(
        pipeline,
        "SELECT t.status, o.status AS order_status, p.stock_quantity AS stock"
        " FROM payments t JOIN products p ON p.id = 7",
        "kill-in-stop",
    )
    pipeline.processes.start("worker")
    restarted_pid = pipeline.processes.running["worker"].pid
    await pipeline.statuses.wait_final(["kill-in-stop"])

    problems = await check(
        pipeline, Expected(orders={"kill-in-stop"}, statuses={"kill-in-stop": "CANCELLED"})
    )
    history = await order_history(pipeline, "kill-in-stop")
    [stop_step] = history.step_runs(STOP_ORDER_STEP)
    payment = await effect_row(pipeline, "SELECT t.status FROM payments t", "kill-in-stop")

    assert problems == [], describe(problems)
    assert code == CRASH_EXIT_CODE
    assert "fault release_stock crash_after_effect" in crashed_log
    assert half_stopped == {"status": "CAPTURED", "order_status": "CONFIRMED", "stock": 10}
    assert history.lost_by(crashed_pid), history
    assert stop_step.worker.startswith(f"{restarted_pid}@"), stop_step
    assert payment == {"status": "REFUNDED"}
    assert await pipeline.stock(7) == 10  # released once: twice would make it 12
    assert pipeline.statuses.statuses("kill-in-stop")[-2:] == ["CONFIRMED", "CANCELLED"]


async def test_a_worker_killed_between_sending_events_and_deleting_them_sends_them_again_in_order(
    pipeline: Pipeline,
) -> None:
    # The relay's first batch is acknowledged by Kafka, then the process ends before the
    # batch's rows are deleted, as kill -9 would leave it.
    start_faulty_worker(pipeline, "status_relay:crash_after_effect")
    pipeline.processes.start("consumer")
    refs = [f"crash-relay-{n}" for n in range(5)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    sent_not_deleted = await outbox_events(pipeline)
    pipeline.processes.start("worker")
    await pipeline.statuses.wait_final(refs)

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )

    assert problems == [], describe(problems)  # including: first arrivals in sequence order
    assert code == CRASH_EXIT_CODE
    assert "fault status_relay crash_after_effect" in crashed_log
    assert sent_not_deleted, "the crash must leave sent rows in the outbox"
    # The lost batch went out again, under its ids; only rows still in the outbox repeated.
    # Its copies may follow the orders' last statuses: the first batch can hold them all.
    await pipeline.statuses.wait_for(
        lambda: any(n > 1 for n in event_copies(pipeline, refs).values())
    )
    repeated = {event_id for event_id, n in event_copies(pipeline, refs).items() if n > 1}
    assert repeated <= set(sent_not_deleted), (repeated, sent_not_deleted)
    await wait_for_empty_outbox(pipeline)
