"""Workflows driven straight through Temporal, with no-op activities: what each shape allows."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

from temporalio.client import Client

from bench.report import Progress
from schemas.workflow_io import WORKFLOW_TYPE, OrderLine, OrderWorkflowInput


def order_input(order_id: int) -> OrderWorkflowInput:
    return OrderWorkflowInput(
        order_id=order_id,
        order_ref=f"bench-{order_id}",
        customer_id=1,
        customer_email="bench@example.com",
        currency="USD",
        items=(OrderLine(product_id=1, quantity=1, unit_price=Decimal("19.99")),),
        total_amount=Decimal("19.99"),
        payment_method="card",
        payment_token="tok_ok",
    )


async def workflows_per_second(
    client: Client, task_queue: str, shape: str, count: int, in_flight: int, progress: Progress
) -> float:
    """Run `count` workflows of `shape` ("project" or "seed"), at most `in_flight` at once."""
    run = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with slots:
            if shape == "project":
                await client.execute_workflow(
                    WORKFLOW_TYPE, order_input(n), id=f"bench-{run}-{n}", task_queue=task_queue
                )
            else:
                await client.execute_workflow(
                    "SeedShapedOrderWorkflow", n, id=f"seed-{run}-{n}", task_queue=task_queue
                )
            progress.advance()

    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(1, count + 1)))
    return count / (time.monotonic() - started)
