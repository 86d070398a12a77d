"""`python -m tools.bench.noop_worker <task queue>`: the worker of the floor's empty workflows."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.worker import Worker

from runtime.exit import exit_now
from tools.bench import empty_workflow
from tools.bench.empty_workflow import EmptyWorkflow
from tools.bench.temporal import connect
from worker.bytecode import cache_bytecode


async def main(task_queue: str) -> int:
    client = await connect(dict(os.environ))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    cache_bytecode(empty_workflow)  # as the project's worker does for its workflow module
    # The project's worker's default limit, so the two take work in the same measure.
    async with Worker(
        client, task_queue=task_queue, workflows=[EmptyWorkflow], max_concurrent_workflow_tasks=100
    ):
        await stop.wait()
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(sys.argv[1])))
