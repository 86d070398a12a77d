"""Processes killed or stopped mid-stream lose nothing and double nothing."""

from __future__ import annotations

from tests.harness import order_placed
from tests.pipeline import Pipeline

# Short enough that an activity lost with a killed worker is retried within the test.
QUICK_RETRIES = {"ORDERING_ACTIVITY_TIMEOUT_SECONDS": "5"}


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
    pipeline.processes.start("consumer", **QUICK_RETRIES)
    refs = [f"e2e-kill-{n}" for n in range(40)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    await pipeline.statuses.wait_for(
        lambda: sum(bool(pipeline.statuses.statuses(r)) for r in refs) >= 5
    )

    assert pipeline.processes.kill("consumer") == -9
    unfinished_at_kill = [r for r in refs if pipeline.statuses.final(r) is None]
    assert pipeline.processes.kill("worker") == -9
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", **QUICK_RETRIES)
    finals = await pipeline.statuses.wait_final(refs, within=180)

    assert unfinished_at_kill, "the kill must land mid-stream"
    assert set(finals.values()) == {"COMPLETED"}
    await assert_each_order_ran_once(pipeline, refs)
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
