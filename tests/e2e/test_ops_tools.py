"""The operator tools run as operators run them, `python -m tools.ops ...`, against real orders that
went through the real consumer and worker."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.workflow_io import QUERY_GET_ORDER_STATE, OrderWorkflowState
from tests.support.examples import HAPPY_PATH
from tests.support.harness import Run, cancellation, order_placed, run_ops
from tests.support.pipeline import Pipeline

# Holds CONFIRMED orders long enough for a late cancellation or override to land.
CANCEL_WINDOW = {"ORDERING_CANCEL_WINDOW_SECONDS": "60"}


async def ops(pipeline: Pipeline, *args: str) -> Run:
    run = await run_ops(pipeline.processes.env, *args)
    assert "Traceback" not in run.err, run.err
    return run


async def order_id(pipeline: Pipeline, ref: str) -> int:
    row = await pipeline.order_row(ref)
    assert row is not None, ref
    return int(row["id"])


async def test_inspect_shows_orders_and_reconcile_repairs_rows_set_back_behind_closed_workflows(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    for ref in ("ops-edited", "ops-restored"):
        await pipeline.publish.event(order_placed(ref, [(1, 2, "19.99")]))
    await pipeline.publish.event(
        order_placed("ops-declined", [(2, 1, "5.00")], token="tok_decline")
    )
    await pipeline.statuses.wait_final(["ops-edited", "ops-restored", "ops-declined"])
    edited, restored = [await order_id(pipeline, r) for r in ("ops-edited", "ops-restored")]

    inspected = await asyncio.gather(
        ops(pipeline, "inspect", "ops-edited"),
        ops(pipeline, "inspect", "ops-edited", "--json"),
        ops(pipeline, "inspect", str(await order_id(pipeline, "ops-declined"))),
        ops(pipeline, "inspect", "ops-declined", "--json"),
    )

    assert_inspected(edited, *inspected)
    paid = await pipeline.database.fetch_val(
        "SELECT payment_id FROM payments WHERE order_id = :id", {"id": restored}
    )
    # Edited by hand: the status only. Restored from an old backup: status and history.
    await pipeline.database.execute(
        "UPDATE orders SET status = 'CONFIRMED' WHERE id = :id", {"id": edited}
    )
    await pipeline.database.execute(
        "UPDATE orders SET status = 'RESERVING_STOCK', status_sequence = 3 WHERE id = :id",
        {"id": restored},
    )
    await pipeline.database.execute(
        "DELETE FROM order_status_history WHERE order_id = :id AND sequence > 3", {"id": restored}
    )
    # A PENDING row whose workflow never started, untouched for an hour.
    await pipeline.database.execute(
        "INSERT INTO orders (order_ref, customer_id, customer_email, currency, order_date,"
        " status, total_amount, payment_method, content_fingerprint, updated_at) VALUES"
        " ('ops-orphan', 42, 'ada@example.com', 'USD', NOW(), 'PENDING', 5.00, 'card',"
        " REPEAT('a', 64), NOW() - INTERVAL 1 HOUR)"
    )

    dry = await ops(pipeline, "reconcile", "--dry-run")

    assert dry.code == 1, dry.err
    assert (
        f"ops-edited (order {edited}): row CONFIRMED (sequence 6), but its status history ends"
        " COMPLETED (sequence 6) -> would put the row back at COMPLETED (sequence 6) from its"
        " history (dry run)" in dry.out
    )
    set_back = (
        f"ops-restored (order {restored}): row RESERVING_STOCK (sequence 3), but"
        f" order-{restored} closed COMPLETED with the order COMPLETED, payment {paid}: MySQL was"
        " set back behind the order's steps"
    )
    assert set_back in dry.out
    assert "ops-orphan" in dry.out
    assert "re-publish its OrderPlaced" in dry.out
    assert await pipeline.count(
        "SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED' AND id = :id", {"id": edited}
    )

    repair = await ops(pipeline, "reconcile")

    assert repair.code == 1  # the orphan and the restored order are left for a person
    assert "repaired: put the row back at COMPLETED (sequence 6) from its history" in repair.out
    assert set_back in repair.out
    assert "ops-orphan" in repair.out
    assert repair.out.count("reported only") == 2
    for ref, status, sequence in (
        ("ops-edited", "COMPLETED", 6),
        ("ops-restored", "RESERVING_STOCK", 3),
    ):
        row = await pipeline.order_row(ref)
        assert row is not None
        assert (row["status"], row["status_sequence"]) == (status, sequence)
    # Nothing invented: the row takes its own history's last line, which it had sent.
    assert await history(pipeline, edited) == [1, 2, 3, 4, 5, 6]
    assert await history(pipeline, restored) == [1, 2, 3]
    again = await ops(pipeline, "reconcile")
    assert "ops-edited" not in again.out
    assert set_back in again.out


def assert_inspected(
    completed_id: int, completed: Run, completed_json: Run, declined: Run, declined_json: Run
) -> None:
    runs = [completed, completed_json, declined, declined_json]
    assert [run.code for run in runs] == [0, 0, 0, 0], [run.err for run in runs]
    assert all("tok_" not in run.out for run in runs)  # the payment token is never shown
    for text in (completed.out, declined.out):
        assert "a***@example.com" in text
        assert "ada@example.com" not in text
    assert f"order {completed_id}  ref ops-edited" in completed.out
    assert "COMPLETED (sequence 6)" in completed.out
    history = completed.out.split("status history (6)\n")[1].splitlines()[:6]
    assert [line.split()[-1] for line in history] == HAPPY_PATH
    assert "product 1  x2  reserved" in completed.out
    assert "held" in completed.out
    assert re.search(
        rf"payment\n  CAPTURED  39\.98 USD  payment id pay_[0-9a-f]+  key order-{completed_id}\n"
        r"  intended +\S+ \S+ UTC\n  captured +\S+ \S+ UTC\n",
        completed.out,
    ), completed.out
    assert "order_confirmation" in completed.out
    assert f"workflow order-{completed_id}" in completed.out
    assert "execution   COMPLETED" in completed.out
    assert "result      order COMPLETED" in completed.out
    assert "FAILED (sequence 5)  reason payment_declined" in declined.out
    assert re.search(r"payment\n  DECLINED  5\.00 USD  payment id none  key order-", declined.out)
    assert "result      order FAILED  reason payment_declined" in declined.out

    as_json = json.loads(completed_json.out)
    assert as_json["order"]["order_ref"] == "ops-edited"
    assert [h["status"] for h in as_json["status_history"]] == HAPPY_PATH
    assert as_json["payment"]["status"] == "CAPTURED"
    assert as_json["payment"]["amount"] == "39.98"
    assert as_json["payment"]["payment_id"].startswith("pay_")
    assert as_json["payment"]["idempotency_key"] == f"order-{completed_id}"
    assert as_json["workflow"]["workflow_id"] == f"order-{completed_id}"
    assert as_json["workflow"]["status"] == "COMPLETED"
    assert as_json["workflow"]["result"]["status"] == "COMPLETED"
    as_json = json.loads(declined_json.out)
    assert as_json["order"]["status"] == "FAILED"
    assert as_json["order"]["failure_reason"] == "payment_declined"
    payment = as_json["payment"]
    assert (payment["status"], payment["payment_id"], payment["captured_at"]) == (
        "DECLINED",
        None,
        None,
    )
    [reservation] = as_json["stock_reservations"]
    assert reservation["released_at"] is not None  # the failure gave the stock back
    assert as_json["workflow"]["result"]["reason"] == "payment_declined"


async def test_a_redriven_cancellation_and_operator_signals_act_on_orders_in_their_cancel_window(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", **CANCEL_WINDOW)
    await pipeline.publish.raw(b"{not json", b"ops-poison")
    await pipeline.publish.event(cancellation("ops-late"))  # before its order: unknown_order
    held = ["ops-cancel", "ops-override", "ops-complete"]
    for ref in held:
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    dead = await pipeline.dead_letters(expected=2)
    at = {dict(r.headers)["dlq.reason"].decode(): f"{r.partition}:{r.offset}" for r in dead}

    listing, as_json = await asyncio.gather(
        ops(pipeline, "dead-letters", "list"), ops(pipeline, "dead-letters", "list", "--json")
    )

    assert (listing.code, as_json.code) == (0, 0)
    assert f"{at['unknown_order']}  unknown_order  key ops-late" in listing.out
    assert f"{at['not_json']}  not_json  key ops-poison  9 bytes" in listing.out
    assert f"from {pipeline.topics.orders}/" in listing.out
    assert "no order with this order_ref has been placed" in listing.out
    reasons = sorted(letter["reason"] for letter in json.loads(as_json.out))
    assert reasons == ["not_json", "unknown_order"]

    await pipeline.publish.event(order_placed("ops-late", [(7, 1, "49.00")]))
    await pipeline.statuses.wait_for(
        lambda: all("CONFIRMED" in pipeline.statuses.statuses(r) for r in ["ops-late", *held])
    )
    published = await topic_size(pipeline, pipeline.topics.orders)
    # A row edited behind its running workflow: left alone while it is recent, then put back
    # from its own history, whose last line the workflow's step wrote with it.
    complete_id = await order_id(pipeline, "ops-complete")
    await pipeline.database.execute(
        "UPDATE orders SET status = 'PROCESSING_PAYMENT', status_sequence = 4 WHERE id = :id",
        {"id": complete_id},
    )

    dry, running, patient, impatient = await asyncio.gather(
        ops(pipeline, "dead-letters", "redrive", "--offset", at["unknown_order"], "--dry-run"),
        ops(pipeline, "inspect", "ops-override"),
        ops(pipeline, "reconcile"),
        ops(pipeline, "reconcile", "--stale-after", "0", "--dry-run"),
    )

    assert dry.code == 0
    assert f"would re-drive {at['unknown_order']} (unknown_order, key ops-late)" in dry.out
    assert await topic_size(pipeline, pipeline.topics.orders) == published
    assert pipeline.statuses.final("ops-late") is None  # still held in its cancel window
    assert running.code == 0
    assert "execution   RUNNING" in running.out
    assert "state       CONFIRMED (sequence 5)" in running.out
    assert patient.code == 0, patient.out
    assert patient.out.endswith(": 1 catching up (younger than --stale-after)\n")
    assert impatient.code == 1, impatient.out
    put_back = (
        f"ops-complete (order {complete_id}): row PROCESSING_PAYMENT (sequence 4), but its status"
        " history ends CONFIRMED (sequence 5) ->"
    )
    assert f"{put_back} would put the row back at CONFIRMED (sequence 5)" in impatient.out
    assert (
        await pipeline.count(
            "SELECT status_sequence FROM orders WHERE id = :id", {"id": complete_id}
        )
        == 4
    )

    repaired = await ops(pipeline, "reconcile", "--stale-after", "0")

    assert repaired.code == 0, repaired.out
    assert f"{put_back} repaired: put the row back at CONFIRMED (sequence 5)" in repaired.out
    assert (
        await pipeline.count(
            "SELECT status_sequence FROM orders WHERE id = :id AND status = 'CONFIRMED'",
            {"id": complete_id},
        )
        == 5
    )

    cancelled, rejected = await asyncio.gather(
        ops(pipeline, "cancel", "ops-cancel", "--reason", "customer called"),
        ops(pipeline, "force-status", "ops-override", "validating"),
    )

    assert cancelled.code == 0, cancelled.err
    assert "cancel_order accepted" in cancelled.out
    assert rejected.code == 1
    assert "override rejected" in rejected.err
    assert "VALIDATING: the state machine does not allow CONFIRMED -> VALIDATING" in rejected.err

    redriven, override, complete = await asyncio.gather(
        ops(pipeline, "dead-letters", "redrive", "--offset", at["unknown_order"]),
        ops(pipeline, "force-status", "ops-override", "CANCELLED"),
        ops(pipeline, "force-status", "ops-complete", "COMPLETED"),
    )

    assert [run.code for run in (redriven, override, complete)] == [0, 0, 0]
    assert f"re-drove {at['unknown_order']} (unknown_order, key ops-late)" in redriven.out
    assert "override accepted" in override.out
    assert "to CANCELLED" in override.out
    assert await pipeline.statuses.wait_final(["ops-late", *held]) == {
        "ops-late": "CANCELLED",
        "ops-cancel": "CANCELLED",
        "ops-override": "CANCELLED",
        "ops-complete": "COMPLETED",
    }
    reasons = [pipeline.statuses.by_ref[ref][-1]["reason"] for ref in ["ops-late", *held]]
    assert reasons == [
        "cancelled_by_customer",
        "cancelled_by_customer",
        "cancelled_by_operator",
        None,
    ]
    assert await pipeline.stock(7) == 10
    # A customer's cancellation is on the order, whether the consumer or the tool took it; an
    # operator's override is a signal only.
    recorded = {
        ref: (row["cancel_requested_at"] is not None, row["cancel_reason"])
        for ref in ["ops-late", *held]
        if (row := await pipeline.order_row(ref)) is not None
    }
    assert recorded == {
        "ops-late": (True, "customer changed mind"),
        "ops-cancel": (True, "customer called"),
        "ops-override": (False, None),
        "ops-complete": (False, None),
    }
    completed_row = await pipeline.order_row("ops-complete")
    assert completed_row is not None
    assert (completed_row["status"], completed_row["status_sequence"]) == ("COMPLETED", 6)
    handle = pipeline.temporal.get_workflow_handle(f"order-{await order_id(pipeline, held[1])}")
    state = await handle.query(QUERY_GET_ORDER_STATE, result_type=OrderWorkflowState)
    assert [note.split(":")[0] for note in state.rejected_overrides] == ["VALIDATING"]
    await pipeline.temporal.get_workflow_handle(
        f"order-{await order_id(pipeline, 'ops-cancel')}"
    ).result()

    # Safe to run twice: the order is cancelled already, so the repeat changes nothing.
    again, closed = await asyncio.gather(
        ops(pipeline, "dead-letters", "redrive", "--all", "--reason", "unknown_order"),
        ops(pipeline, "cancel", "ops-cancel"),
    )

    assert again.code == 0, again.err
    [position] = re.findall(r" as ([0-9]+:[0-9]+)$", again.out, re.MULTILINE)
    await consumed(pipeline, position)
    assert pipeline.statuses.statuses("ops-late").count("CANCELLED") == 1
    assert len(await pipeline.dead_letters(expected=2, within=5)) == 2
    assert closed.code == 1
    assert "has already closed (COMPLETED, order CANCELLED): nothing sent" in closed.err


async def topic_size(pipeline: Pipeline, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.endpoints.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
    finally:
        await consumer.stop()
    return sum(ends.values())


async def consumed(pipeline: Pipeline, position: str, within: float = 30) -> None:
    """Wait until the consumer group has committed past `P:O` of the input topic."""
    partition, offset = map(int, position.split(":"))
    tp = TopicPartition(pipeline.topics.orders, partition)
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.endpoints.kafka_bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(within):
            while True:
                committed: dict[Any, Any] = await admin.list_consumer_group_offsets(
                    pipeline.processes.env["KAFKA_CONSUMER_GROUP"], partitions=[tp]
                )
                if tp in committed and committed[tp].offset > offset:
                    return
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def history(pipeline: Pipeline, order: int) -> list[int]:
    rows = await pipeline.database.fetch_all(
        "SELECT sequence FROM order_status_history WHERE order_id = :id ORDER BY sequence",
        {"id": order},
    )
    return [int(row._mapping["sequence"]) for row in rows]
