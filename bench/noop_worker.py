"""`python -m bench.noop_worker <task queue>`: a worker process for the ceiling measurements."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.worker import Worker

from bench.shapes import NOOP_ACTIVITIES, SeedShapedOrderWorkflow
from bench.temporal import connect
from observability.exit import exit_now
from worker.workflows import OrderProcessingWorkflow


async def main(task_queue: str) -> int:
    client = await connect(dict(os.environ))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderProcessingWorkflow, SeedShapedOrderWorkflow],
        activities=NOOP_ACTIVITIES,
        max_concurrent_activities=100,
        max_concurrent_workflow_tasks=100,
    ):
        await stop.wait()
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(sys.argv[1])))
