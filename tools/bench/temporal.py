"""The bench's own Temporal client, and the sweep that ends workflows a stage left running."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from runtime.temporal import client
from runtime.temporal.settings import TemporalSettings


async def connect(env: dict[str, str]) -> Client:
    """A client as the consumer's and the worker's: with their TLS, API key and payload key."""
    return await client.connect(temporal_settings(env))


def temporal_settings(env: dict[str, str]) -> TemporalSettings:
    """The Temporal settings named in `env` (the bench's environment, with the stack's address)."""
    fields = TemporalSettings.model_fields
    return TemporalSettings.model_validate(
        {name: env[name.upper()] for name in fields if name.upper() in env}
    )


async def until_closed(client: Client, task_queue: str) -> None:
    """Return once no workflow on `task_queue` runs: an order's COMPLETED event goes out
    before its workflow's last task, whose cost belongs to the order too."""
    query = f'TaskQueue="{task_queue}" AND ExecutionStatus="Running"'
    while True:
        if not (await client.count_workflows(query)).count:
            return
        await asyncio.sleep(0.2)


async def terminate_running(client: Client, task_queue: str, in_flight: int = 32) -> int:
    """Terminate what still runs on `task_queue`; returns how many.

    Stages that start workflows with no worker, or stop the worker before the backlog is done,
    would otherwise leave them running in the dev server's database for good.
    """
    query = f'TaskQueue="{task_queue}" AND ExecutionStatus="Running"'
    running = (await client.count_workflows(query)).count
    if not running:
        return 0
    slots = asyncio.Semaphore(in_flight)

    async def terminate(workflow_id: str) -> bool:
        async with slots:
            try:
                await client.get_workflow_handle(workflow_id).terminate(reason="bench cleanup")
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                return False  # closed meanwhile, or already terminated and not yet listed so
            return True

    total = 0
    while ids := [execution.id async for execution in client.list_workflows(query, limit=5000)]:
        ended = sum(await asyncio.gather(*(terminate(workflow_id) for workflow_id in ids)))
        if not ended:
            await asyncio.sleep(1)  # the list lags behind the terminations
        total += ended
    return total
