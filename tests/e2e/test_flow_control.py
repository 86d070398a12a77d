"""A backlog waits in Kafka: the consumer keeps the orders in progress within its bound."""

from __future__ import annotations

import asyncio

from db.orders import COUNT_IN_PROGRESS
from tests.support.harness import order_placed
from tests.support.pipeline import Pipeline

BOUND = 40  # small, so that a backlog the suite can afford crosses it many times
BACKLOG = 240


async def test_a_backlog_drains_with_no_more_orders_in_progress_than_the_bound_across_a_restart(
    pipeline: Pipeline,
) -> None:
    refs = [f"backlog-{n}" for n in range(BACKLOG)]
    for ref in refs:  # published with the consumer stopped
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", MAX_ORDERS_IN_PROGRESS=str(BOUND))
    counts: list[int] = []
    sampling = asyncio.create_task(sample_in_progress(pipeline, counts))
    try:
        # Killed mid-drain and started again: the bound is counted in MySQL, so the new
        # consumer holds it from its first fetch.
        await pipeline.statuses.wait_for(lambda: finished(pipeline, refs) >= BACKLOG // 3)
        pipeline.processes.kill("consumer")
        pipeline.processes.start("consumer", MAX_ORDERS_IN_PROGRESS=str(BOUND))
        finals = await pipeline.statuses.wait_final(refs, within=180)
    finally:
        sampling.cancel()

    assert set(finals.values()) == {"COMPLETED"}
    assert max(counts) <= BOUND, max(counts)
    assert max(counts) >= BOUND // 2, "the backlog must have reached the bound"
    # Said by the consumer killed mid-drain, by the one after it, or by both: whichever met
    # the bound at a fetch.
    log = pipeline.processes.every_log("consumer")
    assert "pausing the partitions" in log
    assert "resuming the partitions" in log


def finished(pipeline: Pipeline, refs: list[str]) -> int:
    return sum(pipeline.statuses.final(ref) is not None for ref in refs)


async def sample_in_progress(pipeline: Pipeline, counts: list[int]) -> None:
    """The orders in progress as flow control counts them, every 20 ms (a measurement beside
    the test, not a wait)."""
    while True:
        counts.append(await pipeline.count(COUNT_IN_PROGRESS))
        await asyncio.sleep(0.02)
