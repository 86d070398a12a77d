"""Every event delivered twice, and the same order_ref with other content."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from datetime import datetime

from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy

from schemas.workflow_io import WORKFLOW_TYPE, OrderWorkflowInput
from tests.support.consumer_faults import CommittedOffsets, log_count, partition_of
from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline

# The consumer's line for a redelivered order it finds started (consumer/handlers.py).
REDELIVERY_IGNORED = "order already started; redelivery ignored"


def ends_of(refs: list[str]) -> dict[int, int]:
    """partition -> the offset after its last record, once a record keyed by each of `refs`
    (a ref may repeat) has been published to a new topic."""
    return dict(Counter(partition_of(ref) for ref in refs))


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
    async with CommittedOffsets(pipeline) as offsets:
        consumed_all = await offsets.reach(ends_of([*refs, *refs, *refs, "dup-marker"]))

    orders = await pipeline.count("SELECT COUNT(*) FROM orders")
    problems = await check(pipeline, Expected(orders={*refs, "dup-marker"}))

    assert problems == [], describe(problems)
    assert orders == 21
    # Every copy was read and found its order: 20 second copies and 20 re-sends, and the
    # group committed past all 61 records.
    assert log_count(pipeline, "consumer", REDELIVERY_IGNORED) >= 40
    assert consumed_all, "the group's committed offsets did not reach the end of the topic"


async def test_the_oracle_catches_a_second_run_of_an_order(pipeline: Pipeline) -> None:
    """Negative control: a completed order's workflow started again behind the consumer's
    back, with the input of its first run, is reported by the oracle as a second run."""
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("dup-control", [(1, 1, "19.99")]))
    await pipeline.statuses.wait_final(["dup-control"])
    row = await pipeline.order_row("dup-control")
    assert row is not None
    first = pipeline.temporal.get_workflow_handle(f"order-{row['id']}")
    await first.result()
    started = (await first.fetch_history()).events[0].workflow_execution_started_event_attributes
    [workflow_input] = await pipeline.temporal.data_converter.decode(
        started.input.payloads, [OrderWorkflowInput]
    )
    second = await pipeline.temporal.start_workflow(
        WORKFLOW_TYPE,
        workflow_input,
        id=first.id,
        task_queue=started.task_queue.name,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    with contextlib.suppress(WorkflowFailureError):
        await second.result()

    problems = await check(pipeline, Expected(orders={"dup-control"}))

    assert any("dup-control: 2 workflow runs" in p for p in problems), describe(problems)


async def test_a_conflicting_duplicate_is_dead_lettered_before_and_after_completion(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    # The cancel window holds the order open a while, so the first conflicting copy surely
    # meets it before completion.
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="2")
    first = order_placed("conflict-1", [(1, 1, "19.99")])
    before = order_placed("conflict-1", [(1, 2, "19.99")])
    after = order_placed("conflict-1", [(2, 1, "5.00")], token="tok_flaky")
    await pipeline.publish.event(first)
    await pipeline.publish.event(before)
    await pipeline.statuses.wait_final(["conflict-1"])
    await pipeline.publish.event(after)
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
    failed_at = await dead_lettered_at(pipeline, expected=3)
    completed_at = status_entered_at(pipeline, "conflict-1", "COMPLETED")

    assert problems == [], describe(problems)
    row = await pipeline.order_row("conflict-1")
    assert row is not None
    assert str(row["total_amount"]) == "19.99"
    # The first conflicting copy met the order still running, the second a completed one.
    assert failed_at[before["event_id"]] < completed_at < failed_at[after["event_id"]]


async def dead_lettered_at(pipeline: Pipeline, expected: int) -> dict[str, datetime]:
    """The event_id of each dead letter's original event -> the letter's `dlq.failed_at`."""
    records = await pipeline.dead_letters(expected=expected)
    return {
        json.loads(r.value)["event_id"]: datetime.fromisoformat(
            dict(r.headers)["dlq.failed_at"].decode()
        )
        for r in records
    }


def status_entered_at(pipeline: Pipeline, ref: str, status: str) -> datetime:
    """When order `ref` entered `status`, as its status event says."""
    [occurred_at] = {
        e["occurred_at"] for e in pipeline.statuses.by_ref[ref] if e["status"] == status
    }
    return datetime.fromisoformat(occurred_at)
