"""A Temporal dev server for the session, and a worker with fake activities per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import FakeOrderActivities, fresh_order_id
from tests.workflows.harness import CUSTOMER_ID, ORDER_REF, ORDER_STATUS, OrderRunner
from worker.workflows import OrderProcessingWorkflow

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        namespace="ordering-system",
        data_converter=pydantic_data_converter,
        search_attributes=[ORDER_REF, CUSTOMER_ID, ORDER_STATUS],
    )
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"orders-{uuid.uuid4()}"


@pytest.fixture
def order_id() -> int:
    return fresh_order_id()


@pytest.fixture
def fakes() -> FakeOrderActivities:
    return FakeOrderActivities()


@pytest_asyncio.fixture(loop_scope="session")
async def orders(
    workflow_env: WorkflowEnvironment, task_queue: str, fakes: FakeOrderActivities
) -> AsyncIterator[OrderRunner]:
    async with Worker(
        workflow_env.client,
        task_queue=task_queue,
        workflows=[OrderProcessingWorkflow],
        activities=fakes.activities,
    ):
        yield OrderRunner(workflow_env.client, task_queue)
