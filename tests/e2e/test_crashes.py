"""Processes killed or stopped mid-stream lose nothing and double nothing."""

from __future__ import annotations

import asyncio

from tests.support.consumer_faults import CommittedOffsets, placement
from tests.support.faulty_consumer import FAULTY_CONSUMER
from tests.support.harness import order_placed
from tests.support.pipeline import Pipeline

# Short enough that an activity lost with a killed worker is retried within the test.
QUICK_RETRIES = {"ORDERING_ACTIVITY_TIMEOUT_SECONDS": "5"}
# Each new order waits a quarter of a second between its row and its workflow, two at a time
# (the consumer slowed through its ports): while it works through a burst it always holds
# orders stored but not started.
PACED = {"FAULT_SLOW_START_SECONDS": "0.25", "MAX_CONCURRENCY": "2"}


async def stored_unstarted(pipeline: Pipeline, refs: list[str]) -> list[str]:
    """Which of `refs` have a row but no workflow id yet: the consumer holds them mid-handling."""
    names = {f"r{n}": ref for n, ref in enumerate(refs)}
    rows = await pipeline.database.fetch_all(
        "SELECT order_ref FROM orders WHERE temporal_workflow_id IS NULL"
        f" AND order_ref IN ({', '.join(':' + name for name in names)})",
        names,
    )
    return sorted(row["order_ref"] for row in rows)


async def wait_for_stored_unstarted(pipeline: Pipeline, refs: list[str]) -> None:
    async with asyncio.timeout(60):
        while True:
            if await stored_unstarted(pipeline, refs):
                return
            await asyncio.sleep(0.02)


async def uncommitted(pipeline: Pipeline, refs: list[str]) -> list[str]:
    """Which of `refs` (each published once, in order, to the test's topic) lie at or beyond
    the consumer group's committed offset of their partition."""
    async with CommittedOffsets(pipeline) as offsets:
        committed = await offsets.read()
    return sorted(
        ref
        for ref, (partition, offset) in placement(refs).items()
        if offset >= committed.get(partition, 0)
    )


async def assert_each_order_ran_once(pipeline: Pipeline, refs: list[str]) -> None:
    for ref in refs:
        row = await pipeline.order_row(ref)
        assert row is not None, ref
        events = {e["event_id"]: e for e in pipeline.statuses.by_ref[ref]}.values()
        sequences = sorted(e["sequence"] for e in events)
        assert sequences == list(range(1, len(sequences) + 1)), ref
        assert row["status"] == max(events, key=lambda e: e["sequence"])["status"]
        assert await pipeline.workflow_runs(f"order-{row['id']}") == 1
    assert await pipeline.count("SELECT COUNT(*) FROM orders") == len(refs)
    assert await pipeline.count("SELECT COUNT(*) FROM order_items") == len(refs)


async def test_kill_9_of_consumer_and_worker_mid_stream_loses_and_doubles_nothing(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer", **QUICK_RETRIES, **PACED)
    refs = [f"e2e-kill-{n}" for n in range(40)]
    early, burst = refs[:10], refs[10:]
    for ref in early:
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    await pipeline.statuses.wait_for(
        lambda: sum(bool(pipeline.statuses.statuses(r)) for r in early) >= 5
    )
    for ref in burst:
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    await wait_for_stored_unstarted(pipeline, burst)

    assert pipeline.processes.kill("consumer") == -9
    # Read after the kill: only the consumer writes workflow ids and commits offsets.
    in_hand = await stored_unstarted(pipeline, refs)
    not_committed = await uncommitted(pipeline, refs)
    unfinished_at_kill = [r for r in refs if pipeline.statuses.final(r) is None]
    assert pipeline.processes.kill("worker") == -9
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", **QUICK_RETRIES)
    finals = await pipeline.statuses.wait_final(refs, within=180)
    recorded = [await pipeline.order_row(ref) for ref in in_hand]

    assert in_hand, "the kill must land while the consumer holds orders stored but not started"
    assert set(in_hand) <= set(not_committed), "an order in hand had its offset committed"
    assert unfinished_at_kill, "the kill must land mid-stream"
    assert set(finals.values()) == {"COMPLETED"}
    await assert_each_order_ran_once(pipeline, refs)
    # The restarted consumer read the orders in hand again and recorded their workflows.
    assert all(row and row["temporal_workflow_id"] == f"order-{row['id']}" for row in recorded)
    assert await pipeline.stock(1) == 1000 - len(refs)
    assert await pipeline.count("SELECT COUNT(*) FROM payments") == len(refs)
    assert await pipeline.count("SELECT COUNT(*) FROM notifications") == len(refs)


async def test_sigterm_under_load_exits_0_and_a_restart_finishes_the_rest(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    refs = [f"e2e-term-{n}" for n in range(30)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")], token="tok_flaky"))
    await pipeline.statuses.wait_for(lambda: bool(pipeline.statuses.statuses(refs[0])))

    assert pipeline.processes.terminate("consumer") == 0
    unfinished_at_stop = [r for r in refs if pipeline.statuses.final(r) is None]
    assert pipeline.processes.terminate("worker") == 0
    assert "consumer stopped" in pipeline.processes.log("consumer")
    assert "worker stopped" in pipeline.processes.log("worker")
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    finals = await pipeline.statuses.wait_final(refs, within=180)

    assert unfinished_at_stop, "the stop must land mid-stream"
    assert set(finals.values()) == {"COMPLETED"}
    await assert_each_order_ran_once(pipeline, refs)
    assert await pipeline.stock(2) == 1000 - len(refs)
