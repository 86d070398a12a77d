"""`WORKER_PROCESSES=2`: one `python -m worker` running two workers that share the orders, and
stopping as one."""

from __future__ import annotations

import asyncio
import signal

import psutil

from tests.integration.test_temporal_tls import pollers
from tests.support.consumer_faults import wait_until
from tests.support.harness import order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline

TEA = (2, 1, "5.00")


async def children_of(pipeline: Pipeline, name: str, count: int) -> list[psutil.Process]:
    """The worker processes under `name`, once `count` of them run."""
    parent = psutil.Process(pipeline.processes.running[name].pid)
    await wait_until(lambda: len(parent.children()) >= count, within=30)
    return parent.children()


async def test_two_worker_processes_share_the_orders_and_stop_and_fail_as_one(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker", WORKER_PROCESSES="2")
    pipeline.processes.start("consumer")
    refs = [f"two-workers-{n}" for n in range(40)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [TEA]))
    finals = await pipeline.statuses.wait_final(refs)
    first_pids = {child.pid for child in await children_of(pipeline, "worker", 2)}
    # What the Temporal UI shows of the task queue: a poller for each process.
    task_queue = pipeline.processes.env["ORDERING_TASK_QUEUE"]
    polling = await pollers(pipeline.temporal, pipeline.endpoints.namespace, task_queue)
    stopped = pipeline.processes.terminate("worker")

    # One of them killed: the other is stopped, and the group exits for a supervisor to see.
    pipeline.processes.start("worker", WORKER_PROCESSES="2")
    first, second = await children_of(pipeline, "worker", 2)
    first.send_signal(signal.SIGKILL)
    failed = await asyncio.to_thread(pipeline.processes.running["worker"].wait, 60)
    log = pipeline.processes.log("worker")
    problems = await check(pipeline, Expected(orders=set(refs)))

    assert problems == [], describe(problems)
    assert set(finals.values()) == {"COMPLETED"}
    assert {identity.split("@")[0] for identity in polling} == {str(p) for p in first_pids}
    assert stopped == 0
    assert not any(psutil.pid_exists(pid) for pid in first_pids)
    assert failed == 1
    assert f"worker process {first.pid} exited with code -9; the others were stopped" in log
    assert not second.is_running()
