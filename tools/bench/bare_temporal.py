"""`python -m tools.bench.bare_temporal <count>`: the floor's Temporal part, empty workflows
started.

Started as the consumer starts orders (32 at once), run by the bench's no-op worker on
`ORDERING_TASK_QUEUE`; done once the server lists them all as completed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from temporalio.client import Client

from runtime.exit import exit_now
from tools.bench.bare import WARM_UP, say, wait_for_release
from tools.bench.empty_workflow import EMPTY_WORKFLOW
from tools.bench.temporal import connect

IN_FLIGHT = 32  # the consumer's MAX_CONCURRENCY


async def run_empty(client: Client, task_queue: str, count: int, completed: int) -> None:
    """Start `count` empty workflows; return once the queue has `completed` of them in all."""
    run = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with slots:
            await client.start_workflow(
                EMPTY_WORKFLOW, id=f"empty-{run}-{n}", task_queue=task_queue
            )

    await asyncio.gather(*(one(n) for n in range(count)))
    # Counted rather than awaited one by one: a result each would be a long poll each.
    query = f'TaskQueue="{task_queue}" AND ExecutionStatus="Completed"'
    while True:
        if (await client.count_workflows(query)).count >= completed:
            return
        await asyncio.sleep(0.2)


async def main(count: int) -> int:
    env = dict(os.environ)
    client = await connect(env)
    task_queue = env["ORDERING_TASK_QUEUE"]
    await run_empty(client, task_queue, WARM_UP, WARM_UP)
    say("ready")
    await run_empty(client, task_queue, count, WARM_UP + count)
    say("done")
    wait_for_release()
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(int(sys.argv[1]))))
