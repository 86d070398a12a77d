"""The consumer dies between two steps of one order; its redelivery finishes the job,
and where nothing is redelivered, the sweeper does.

Each test starts the consumer with a crash point in its ports (`tests/support/faulty_consumer.py`),
shows that it died there (exit code 86, its last words) with the record uncommitted, restarts it
as users start it and shows the restart handled the same record again (or, its record gone,
started the order from MySQL) before the oracle's verdict.
"""

from __future__ import annotations

import base64

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.support.consumer_faults import CommittedOffsets, exit_code, partition_of, wait_for_log
from tests.support.faulty_consumer import (
    AFTER_INSERT,
    AFTER_START,
    BEFORE_COMMIT,
    CRASH_EXIT_CODE,
    FAULTY_CONSUMER,
)
from tests.support.harness import order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline

STARTED = "order workflow started"
SWEPT = "sweeper started the order's workflow"
KEY = base64.b64encode(bytes(range(32))).decode()
IGNORED = "order already started; redelivery ignored"


async def crash_at(pipeline: Pipeline, point: str) -> None:
    """Wait for the consumer to die at `point`, and check that it said so."""
    assert await exit_code(pipeline, "consumer") == CRASH_EXIT_CODE
    assert f"crash point {point} reached" in pipeline.processes.log("consumer")


async def test_a_consumer_killed_after_the_insert_starts_the_workflow_on_redelivery(
    pipeline: Pipeline,
) -> None:
    ref = "crash-insert"
    pipeline.processes.start("worker")
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer", FAULT_CRASH_AT=AFTER_INSERT)
    await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))

    await crash_at(pipeline, AFTER_INSERT)
    row = await pipeline.order_row(ref)
    assert row is not None
    assert row["temporal_workflow_id"] is None
    with pytest.raises(RPCError) as not_started:
        await pipeline.temporal.get_workflow_handle(f"order-{row['id']}").describe()
    assert not_started.value.status == RPCStatusCode.NOT_FOUND
    async with CommittedOffsets(pipeline) as offsets:
        assert await offsets.read() == {}  # the record will be redelivered

        pipeline.processes.start("consumer")
        await pipeline.statuses.wait_final([ref])
        problems = await check(pipeline, Expected(orders={ref}, statuses={ref: "COMPLETED"}))

        assert problems == [], describe(problems)
        assert STARTED in pipeline.processes.log("consumer")  # the restart handled it
        assert await offsets.read() == {partition_of(ref): 1}


async def test_an_order_whose_record_is_gone_after_a_crash_is_started_by_the_sweeper(
    pipeline: Pipeline,
) -> None:
    """The record aged out of the topic (deleted here) while the consumer was down after
    storing the order: nothing redelivers it, and the sweeper starts the order from its row
    and its sealed secrets, with no token or email in clear in MySQL."""
    ref, email = "crash-insert-gone", "sweep.me@example.com"
    pipeline.processes.start("worker", PAYLOAD_ENCRYPTION_KEY=KEY)
    pipeline.processes.start(
        FAULTY_CONSUMER, name="consumer", FAULT_CRASH_AT=AFTER_INSERT, PAYLOAD_ENCRYPTION_KEY=KEY
    )
    event = order_placed(ref, [(1, 1, "19.99")])
    event["order"]["customer_email"] = email
    await pipeline.publish.event(event)

    await crash_at(pipeline, AFTER_INSERT)
    row = await pipeline.order_row(ref)
    assert row is not None
    assert (row["status"], row["temporal_workflow_id"], row["customer_email"]) == (
        "PENDING", None, None,
    )  # fmt: skip
    assert email.encode() not in row["sealed_secrets"]
    assert b"tok_ok" not in row["sealed_secrets"]
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.endpoints.kafka_bootstrap)
    await admin.start()
    try:
        gone = TopicPartition(pipeline.topics.orders, partition_of(ref))
        await admin.delete_records({gone: RecordsToDelete(before_offset=-1)})  # all of it
    finally:
        await admin.close()

    pipeline.processes.start("consumer", PAYLOAD_ENCRYPTION_KEY=KEY)
    await pipeline.statuses.wait_final([ref])
    problems = await check(pipeline, Expected(orders={ref}, statuses={ref: "COMPLETED"}))

    assert problems == [], describe(problems)
    consumer_log = pipeline.processes.log("consumer")
    assert SWEPT in consumer_log
    assert STARTED not in consumer_log  # not by a redelivery
    row = await pipeline.order_row(ref)
    assert row is not None
    assert row["temporal_workflow_id"] == f"order-{row['id']}"


async def test_a_consumer_killed_after_the_start_finds_the_running_workflow_on_redelivery(
    pipeline: Pipeline,
) -> None:
    ref = "crash-start"
    # No worker yet: the workflow is still running when the redelivery reaches it.
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer", FAULT_CRASH_AT=AFTER_START)
    await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))

    await crash_at(pipeline, AFTER_START)
    row = await pipeline.order_row(ref)
    assert row is not None
    assert row["temporal_workflow_id"] is None
    handle = pipeline.temporal.get_workflow_handle(f"order-{row['id']}")
    before = await handle.describe()
    assert before.status == WorkflowExecutionStatus.RUNNING
    async with CommittedOffsets(pipeline) as offsets:
        assert await offsets.read() == {}

        pipeline.processes.start("consumer")
        await wait_for_log(pipeline, "consumer", STARTED)
        row = await pipeline.order_row(ref)
        assert row is not None
        assert row["temporal_workflow_id"] == f"order-{row['id']}"
        assert (await handle.describe()).run_id == before.run_id  # found, not started again
        pipeline.processes.start("worker")
        await pipeline.statuses.wait_final([ref])
        problems = await check(pipeline, Expected(orders={ref}, statuses={ref: "COMPLETED"}))

        assert problems == [], describe(problems)
        assert await offsets.read() == {partition_of(ref): 1}


async def test_a_redelivery_after_completion_is_stopped_by_the_stored_workflow_id(
    pipeline: Pipeline,
) -> None:
    first, ref = "crash-commit-first", "crash-commit"
    pipeline.processes.start("worker")
    # The first batch commits; the crash comes on the commit of the second.
    pipeline.processes.start(
        FAULTY_CONSUMER, name="consumer", FAULT_CRASH_AT=BEFORE_COMMIT, FAULT_CRASH_AFTER="2"
    )
    async with CommittedOffsets(pipeline) as offsets:
        await pipeline.publish.event(order_placed(first, [(2, 1, "5.00")]))
        await pipeline.statuses.wait_final([first])
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))

        await crash_at(pipeline, BEFORE_COMMIT)
        assert await pipeline.statuses.wait_final([ref]) == {ref: "COMPLETED"}
        row = await pipeline.order_row(ref)
        assert row is not None
        assert row["temporal_workflow_id"] == f"order-{row['id']}"
        await pipeline.temporal.get_workflow_handle(f"order-{row['id']}").result()
        same_partition = partition_of(first) == partition_of(ref)
        offset = 1 if same_partition else 0  # of `ref` on its partition
        committed = await offsets.read()
        assert committed == {partition_of(first): 1}
        assert committed.get(partition_of(ref), 0) == offset  # `ref` is not committed

        pipeline.processes.start("consumer")
        await wait_for_log(pipeline, "consumer", IGNORED)
        problems = await check(
            pipeline,
            Expected(orders={first, ref}, statuses={first: "COMPLETED", ref: "COMPLETED"}),
        )

        assert problems == [], describe(problems)
        assert STARTED not in pipeline.processes.log("consumer")
        assert (await offsets.read())[partition_of(ref)] == offset + 1


async def test_a_redelivery_after_completion_without_a_stored_workflow_id_runs_nothing_again(
    pipeline: Pipeline,
) -> None:
    """The crash leaves the row without its workflow id, so only Temporal's reuse policy stands
    between the redelivery and a second run of a closed workflow."""
    ref = "crash-start-done"
    pipeline.processes.start("worker")
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer", FAULT_CRASH_AT=AFTER_START)
    await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))

    await crash_at(pipeline, AFTER_START)
    assert await pipeline.statuses.wait_final([ref]) == {ref: "COMPLETED"}
    row = await pipeline.order_row(ref)
    assert row is not None
    assert row["temporal_workflow_id"] is None
    handle = pipeline.temporal.get_workflow_handle(f"order-{row['id']}")
    await handle.result()
    closed = await handle.describe()
    async with CommittedOffsets(pipeline) as offsets:
        assert await offsets.read() == {}

        pipeline.processes.start("consumer")
        await wait_for_log(pipeline, "consumer", STARTED)
        problems = await check(pipeline, Expected(orders={ref}, statuses={ref: "COMPLETED"}))

        assert problems == [], describe(problems)
        latest = await handle.describe()
        assert (latest.run_id, latest.status) == (closed.run_id, closed.status)
        assert await offsets.read() == {partition_of(ref): 1}
