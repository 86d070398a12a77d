"""The consumer group rebalances mid-batch, when a member dies and when a member's batch
outlasts its poll interval; no order is lost or doubled and no committed offset goes back."""

from __future__ import annotations

import asyncio

from tests.support.consumer_faults import (
    PARTITIONS,
    CommittedOffsets,
    assignments,
    ends,
    going_back,
    placement,
    wait_for_log,
    wait_until,
)
from tests.support.faulty_consumer import FAULTY_CONSUMER
from tests.support.harness import order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline

ALL = set(range(PARTITIONS))
STARTED = "order workflow started"
IGNORED = "order already started; redelivery ignored"
ASSIGNED = "partitions assigned"
COMMIT_FAILED = "offset commit failed"
# The member that lost its partitions mid-start finds the order's workflow started by the
# member that took them: the same order's, a duplicate, not a crash.
FOUND_STARTED = "order workflow found started by another consumer"
LEFT_GROUP = "LeaveGroup request succeeded"  # aiokafka's own line

# Each new order takes a quarter of a second, two at a time: the stream lasts long enough for
# a kill to land while a member still holds records it has not handled.
PACED = {"FAULT_SLOW_START_SECONDS": "0.25", "MAX_CONCURRENCY": "2"}


def split_between(pipeline: Pipeline, *names: str) -> bool:
    """Each member holds partitions of its own, and together they hold them all."""
    latest = [found[-1] if (found := assignments(pipeline, n)) else set() for n in names]
    return all(latest) and set().union(*latest) == ALL and sum(map(len, latest)) == len(ALL)


def orders(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


async def publish(pipeline: Pipeline, refs: list[str]) -> None:
    for n, ref in enumerate(refs):
        line = (1, 1, "19.99") if n % 2 else (2, 1, "5.00")
        await pipeline.publish.event(order_placed(ref, [line]))


async def unstarted(pipeline: Pipeline, refs: list[str]) -> int:
    """How many of `refs` are stored but have no workflow yet: a member holds them mid-handling."""
    names = {f"r{n}": ref for n, ref in enumerate(refs)}
    return await pipeline.count(
        "SELECT COUNT(*) FROM orders WHERE temporal_workflow_id IS NULL"
        f" AND order_ref IN ({', '.join(':' + name for name in names)})",
        names,
    )


async def test_a_member_killed_mid_batch_hands_its_partitions_to_the_other(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer-a", **PACED)
    pipeline.processes.start(FAULTY_CONSUMER, name="consumer-b", **PACED)
    await wait_until(lambda: split_between(pipeline, "consumer-a", "consumer-b"))
    held_by_a = assignments(pipeline, "consumer-a")[-1]
    refs = orders("rebal", 60)
    async with CommittedOffsets(pipeline) as offsets, offsets.watching():
        await publish(pipeline, refs)
        await wait_for_log(pipeline, "consumer-a", STARTED, times=3)
        # Kill while consumer-a sits in a handler's quarter-second pause: a record it stored
        # but has neither started nor committed.
        of_a = [ref for ref, (partition, _) in placement(refs).items() if partition in held_by_a]
        async with asyncio.timeout(60):
            while True:
                if await unstarted(pipeline, of_a):
                    break
                await asyncio.sleep(0.02)

        assert pipeline.processes.kill("consumer-a") == -9
        at_kill = await offsets.read()
        # What consumer-a had not committed: the group reads it again from the last commit.
        handed_over = [
            ref
            for ref, (partition, offset) in placement(refs).items()
            if partition in held_by_a and offset >= at_kill.get(partition, 0)
        ]
        in_hand = [r for r in handed_over if await pipeline.order_row(r) is not None]
        await wait_until(lambda: assignments(pipeline, "consumer-b")[-1] == ALL)
        await pipeline.statuses.wait_final(refs, within=120)
        committed = await offsets.reach(ends(refs))

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )
    assert problems == [], describe(problems)
    assert in_hand, "the kill must land while consumer-a holds records it has not committed"
    after_takeover = pipeline.processes.log("consumer-b").rpartition(ASSIGNED)[2]
    handled = after_takeover.count(STARTED) + after_takeover.count(IGNORED)
    assert handled >= len(handed_over)  # consumer-b read consumer-a's records again
    assert committed, f"commits stop at {offsets.readings[-1]}, expected {ends(refs)}"
    assert len({tuple(sorted(r.items())) for r in offsets.readings}) > 1  # watched them move
    assert going_back(offsets.readings) == []


async def test_a_batch_slower_than_the_poll_interval_costs_a_commit_not_the_consumer(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    # Every new order of consumer-slow waits 8 s between its row and its workflow's start, and
    # it may go 2 s without polling: its partitions move to consumer-b, which finds the rows
    # and starts their workflows while consumer-slow still waits to start them itself.
    pipeline.processes.start(
        FAULTY_CONSUMER,
        name="consumer-slow",
        KAFKA_MAX_POLL_INTERVAL_MS="2000",
        FAULT_SLOW_START_SECONDS="8",
    )
    pipeline.processes.start("consumer", name="consumer-b")
    await wait_until(lambda: split_between(pipeline, "consumer-slow", "consumer-b"))
    refs = orders("slow", 30)
    async with CommittedOffsets(pipeline) as offsets, offsets.watching():
        await publish(pipeline, refs)
        await wait_for_log(pipeline, "consumer-slow", COMMIT_FAILED)
        # Still a member: it joins the group again after the failed commit, not a new process.
        await wait_until(
            lambda: ASSIGNED in pipeline.processes.log("consumer-slow").partition(COMMIT_FAILED)[2]
        )
        await pipeline.statuses.wait_final(refs, within=120)
        committed = await offsets.reach(ends(refs))

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )
    assert problems == [], describe(problems)
    log = pipeline.processes.log("consumer-slow")
    assert LEFT_GROUP in log  # the poll interval ran out mid-batch
    assert FOUND_STARTED in log  # two owners of one record, both starting its order
    assert log.count(f"consuming {pipeline.topics.orders}") == 1  # one process all along
    assert committed, f"commits stop at {offsets.readings[-1]}, expected {ends(refs)}"
    assert len({tuple(sorted(r.items())) for r in offsets.readings}) > 1  # watched them move
    assert going_back(offsets.readings) == []
    assert pipeline.processes.terminate("consumer-slow") == 0


def test_the_offset_watch_reports_a_commit_that_goes_back_or_vanishes() -> None:
    """Negative control for the watch the tests above rely on."""
    readings = [{}, {0: 1}, {0: 3, 1: 2}, {0: 2, 1: 2}, {0: 4}]

    assert going_back(readings) == [
        "reading 3: partition 0 back to 2",
        "reading 4: partition 1 back to -1",
    ]
    assert going_back(readings[:3]) == []
