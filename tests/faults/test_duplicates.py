"""Fault 1 and 2: every event delivered twice, and the same order_ref with other content."""

from __future__ import annotations

from collections import Counter

from temporalio.common import WorkflowIDReusePolicy

from schemas.workflow_io import TASK_QUEUE, WORKFLOW_TYPE
from tests.faults.oracle import Expected, check, describe
from tests.harness import cancellation, order_placed
from tests.pipeline import Pipeline


async def test_every_event_delivered_twice_makes_one_order_each(pipeline: Pipeline) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    events = [order_placed(f"dup-{n}", [(1, 1, "19.99")]) for n in range(20)]
    for event in events:
        await pipeline.publish.event(event)
        await pipeline.publish.event(event)
    refs = [e["order"]["order_ref"] for e in events]
    await pipeline.statuses.wait_final(refs)
    # After completion: all of them again, re-sent with new event ids.
    for event in events:
        await pipeline.publish.event({**event, "event_id": f"again-{event['event_id']}"})
    await pipeline.publish.event(order_placed("dup-marker", [(2, 1, "5.00")]))
    await pipeline.statuses.wait_final(["dup-marker"])

    consumed = await pipeline.count("SELECT COUNT(*) FROM orders")
    problems = await check(pipeline, Expected(orders={*refs, "dup-marker"}))

    assert problems == [], describe(problems)
    assert consumed == 21  # the duplicates were consumed and found their order


async def test_the_oracle_catches_a_second_run_of_an_order(pipeline: Pipeline) -> None:
    """Negative control: a second run started around the consumer's guard is reported."""
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("dup-control", [(1, 1, "19.99")]))
    await pipeline.statuses.wait_final(["dup-control"])
    row = await pipeline.order_row("dup-control")
    assert row is not None
    await pipeline.temporal.get_workflow_handle(f"order-{row['id']}").result()
    handle = await pipeline.temporal.start_workflow(
        WORKFLOW_TYPE,
        {"bogus": True},
        id=f"order-{row['id']}",
        task_queue=f"{TASK_QUEUE}-nobody-polls",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    await handle.terminate("negative control")

    problems = await check(pipeline, Expected(orders={"dup-control"}))

    assert any("2 workflow runs" in p for p in problems), describe(problems)


async def test_a_conflicting_duplicate_is_dead_lettered_before_and_after_completion(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    first = order_placed("conflict-1", [(1, 1, "19.99")])
    await pipeline.publish.event(first)
    await pipeline.publish.event(order_placed("conflict-1", [(1, 2, "19.99")]))  # before
    await pipeline.statuses.wait_final(["conflict-1"])
    await pipeline.publish.event(order_placed("conflict-1", [(2, 1, "5.00")], token="tok_flaky"))
    await pipeline.publish.event(cancellation("conflict-unknown"))
    await pipeline.publish.event(order_placed("conflict-marker", [(2, 1, "5.00")]))
    await pipeline.statuses.wait_final(["conflict-marker"])

    problems = await check(
        pipeline,
        Expected(
            orders={"conflict-1", "conflict-marker"},
            dead_letters=Counter(conflicting_duplicate=2, unknown_order=1),
            statuses={"conflict-1": "COMPLETED"},
        ),
    )

    assert problems == [], describe(problems)
    row = await pipeline.order_row("conflict-1")
    assert row is not None
    assert str(row["total_amount"]) == "19.99"
