"""Orders in through Kafka come out as rows, one workflow each, and status events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from schemas.topics import HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION, HEADER_SOURCE_TOPIC
from tests.support.examples import HAPPY_PATH
from tests.support.harness import cancellation, order_placed
from tests.support.pipeline import Pipeline


def source_position(dead_letter: Any) -> tuple[str, int, int]:
    """The topic, partition and offset a dead letter's headers say it was read from."""
    headers = {name: value.decode() for name, value in dead_letter.headers}
    return (
        headers[HEADER_SOURCE_TOPIC],
        int(headers[HEADER_SOURCE_PARTITION]),
        int(headers[HEADER_SOURCE_OFFSET]),
    )


async def test_orders_come_out_as_rows_workflows_and_status_events(pipeline: Pipeline) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    customer = uuid.uuid4().int % 10**12  # this test's own, to search by in Temporal
    orders = {
        ref: order_placed(ref, lines, customer_id=customer, **options)
        for ref, lines, options in [
            ("e2e-ok", [(1, 2, "19.99"), (2, 1, "5.00")], {}),
            ("e2e-flaky", [(2, 1, "5.00")], {"token": "tok_flaky"}),
            ("e2e-decline", [(1, 1, "19.99")], {"token": "tok_decline"}),
            ("e2e-unknown", [(99, 1, "1.00")], {}),
            ("e2e-price", [(1, 1, "18.00")], {}),
            ("e2e-total", [(1, 1, "19.99")], {"total": "20.00"}),
        ]
    }
    for event in orders.values():
        await pipeline.publish.event(event)

    finals = await pipeline.statuses.wait_final(list(orders))

    assert finals == {
        "e2e-ok": "COMPLETED",
        "e2e-flaky": "COMPLETED",
        "e2e-decline": "FAILED",
        "e2e-unknown": "FAILED",
        "e2e-price": "FAILED",
        "e2e-total": "FAILED",
    }
    assert pipeline.statuses.statuses("e2e-ok") == HAPPY_PATH
    reasons = {ref: pipeline.statuses.by_ref[ref][-1]["reason"] for ref in orders}
    assert reasons["e2e-decline"] == "payment_declined"
    assert reasons["e2e-unknown"] == "unknown_product:product=99"
    assert reasons["e2e-price"] == "price_mismatch"
    assert reasons["e2e-total"] == "total_mismatch"
    for ref in orders:
        # A retried step (e2e-flaky's payment) announces its status again: the same event.
        first_copies = {e["event_id"]: e for e in reversed(pipeline.statuses.by_ref[ref])}
        assert all(first_copies[e["event_id"]] == e for e in pipeline.statuses.by_ref[ref])
        events = sorted(first_copies.values(), key=lambda e: e["sequence"])
        row = await pipeline.order_row(ref)
        assert row is not None
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        assert [e["event_id"] for e in events] == [
            f"order-{row['id']}:{n}" for n in range(1, len(events) + 1)
        ]
        assert row["status"] == events[-1]["status"]
        assert row["temporal_workflow_id"] == f"order-{row['id']}"
        assert await pipeline.workflow_runs(f"order-{row['id']}") == 1
    # Operators find orders in the Temporal UI by customer, status and reference.
    by_customer = f"CustomerId = {customer}"
    assert await pipeline.search(f"{by_customer} AND OrderStatus = 'FAILED'", 4) == 4
    completed = f"{by_customer} AND OrderStatus = 'COMPLETED' AND OrderRef = 'e2e-ok'"
    assert await pipeline.search(completed, 1) == 1
    # Stock: the completed orders keep theirs, the declined one gave it back.
    assert await pipeline.stock(1) == 1000 - 2
    assert await pipeline.stock(2) == 1000 - 2
    assert await pipeline.count("SELECT COUNT(*) FROM payments WHERE status = 'CAPTURED'") == 2


async def test_a_redelivered_and_a_resent_order_make_one_order_and_one_workflow(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    event = order_placed("e2e-twice", [(1, 1, "19.99")])
    await pipeline.publish.event(event)
    await pipeline.publish.event(event)  # a redelivery: the same bytes
    await pipeline.statuses.wait_final(["e2e-twice"])
    # After completion: the same order re-sent with a new event_id.
    await pipeline.publish.event({**event, "event_id": "a-new-event-id"})
    await pipeline.publish.event(order_placed("e2e-marker", [(2, 1, "5.00")]))
    await pipeline.statuses.wait_final(["e2e-marker"])

    row = await pipeline.order_row("e2e-twice")
    assert row is not None
    assert await pipeline.count("SELECT COUNT(*) FROM orders WHERE order_ref = 'e2e-twice'") == 1
    assert (
        await pipeline.count(
            "SELECT COUNT(*) FROM order_items WHERE order_id = :id", {"id": row["id"]}
        )
        == 1
    )
    assert await pipeline.workflow_runs(f"order-{row['id']}") == 1
    assert pipeline.statuses.statuses("e2e-twice") == HAPPY_PATH
    assert await pipeline.stock(1) == 999


async def test_poison_and_conflicting_messages_go_to_the_dead_letter_topic_and_work_goes_on(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    first = order_placed("e2e-first", [(1, 1, "19.99")])
    await pipeline.publish.event(first)
    not_json = await pipeline.publish.raw(b"{not json", b"e2e-poison")
    not_utf8 = await pipeline.publish.raw(b"\xff\xfe", b"e2e-poison")
    conflicting = order_placed("e2e-first", [(1, 5, "19.99")])
    await pipeline.publish.event(conflicting)
    await pipeline.publish.event(order_placed("e2e-wrong-key", [(1, 1, "19.99")]), key="other")
    await pipeline.publish.event(cancellation("e2e-never-placed"))
    await pipeline.publish.event(order_placed("e2e-after", [(2, 1, "5.00")]))

    finals = await pipeline.statuses.wait_final(["e2e-first", "e2e-after"])
    dead = await pipeline.dead_letters(expected=5)

    assert finals == {"e2e-first": "COMPLETED", "e2e-after": "COMPLETED"}
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in dead)
    assert reasons == sorted(
        ["not_json", "not_utf8", "conflicting_duplicate", "key_mismatch", "unknown_order"]
    )
    by_reason = {dict(r.headers)["dlq.reason"].decode(): r for r in dead}
    assert by_reason["not_json"].value == b"{not json"
    assert by_reason["not_json"].key == b"e2e-poison"
    for reason, published in [("not_json", not_json), ("not_utf8", not_utf8)]:
        assert source_position(by_reason[reason]) == (
            pipeline.topics.orders,
            published.partition,
            published.offset,
        ), reason
    headers = dict(by_reason["conflicting_duplicate"].headers)
    assert headers["dlq.source.topic"].decode() == pipeline.topics.orders
    assert b"ada@example.com" not in b"".join(v for r in dead for _, v in r.headers)
    first_row = await pipeline.order_row("e2e-first")
    assert first_row is not None
    assert str(first_row["total_amount"]) == "19.99"  # the first stands
    assert await pipeline.order_row("e2e-wrong-key") is None
    assert await pipeline.count("SELECT COUNT(*) FROM orders") == 2


async def test_a_cancellation_in_the_window_refunds_releases_and_cancels(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="60")
    await pipeline.publish.event(order_placed("e2e-cancel", [(7, 2, "49.00")]))
    await pipeline.statuses.wait_for(
        lambda: "CONFIRMED" in pipeline.statuses.statuses("e2e-cancel")
    )
    assert await pipeline.stock(7) == 8
    await pipeline.publish.event(cancellation("e2e-cancel"))

    assert (await pipeline.statuses.wait_final(["e2e-cancel"])) == {"e2e-cancel": "CANCELLED"}
    assert pipeline.statuses.by_ref["e2e-cancel"][-1]["reason"] == "cancelled_by_customer"
    assert await pipeline.stock(7) == 10
    assert await pipeline.count("SELECT COUNT(*) FROM payments WHERE status = 'REFUNDED'") == 1
    # A cancellation of a closed order changes nothing and is not dead-lettered. The marker
    # fails validation, so it ends without waiting out the window.
    await pipeline.publish.event(cancellation("e2e-cancel"))
    await pipeline.publish.event(order_placed("e2e-marker", [(99, 1, "1.00")]))
    await pipeline.statuses.wait_final(["e2e-marker"])
    assert pipeline.statuses.final("e2e-cancel") == "CANCELLED"
    assert await pipeline.dead_letters(expected=0, within=5) == []


async def test_concurrent_orders_for_scarce_stock_never_oversell(pipeline: Pipeline) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    refs = [f"e2e-scarce-{n}" for n in range(25)]
    await asyncio.gather(
        *(pipeline.publish.event(order_placed(r, [(7, 1, "49.00")])) for r in refs)
    )

    finals = await pipeline.statuses.wait_final(refs, within=180)

    assert list(finals.values()).count("COMPLETED") == 10
    assert list(finals.values()).count("FAILED") == 15
    assert {pipeline.statuses.by_ref[r][-1]["reason"] for r in refs if finals[r] == "FAILED"} == {
        "insufficient_stock:product=7"
    }
    assert await pipeline.stock(7) == 0
