"""A Temporal dev server for the session; per test, a shop on the real MariaDB and a worker
running the order workflow with the real step activities on it."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import databases
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Worker

from db.order_steps import OrderSteps
from schemas.search_attributes import CUSTOMER_ID, ORDER_REF, ORDER_STATUS
from tests.conftest import unique_order_id_base
from tests.integration.workflows.fakes import fresh_order_id
from tests.integration.workflows.harness import OrderRunner
from tests.integration.workflows.shop import ControlledSteps, NoRelay, Shop, Uncounted
from tests.support.fakes import RecordingGateway
from worker.steps import OrderStepActivities
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
    """A number for the order's ref; MySQL gives the order its id."""
    return fresh_order_id()


@pytest_asyncio.fixture(loop_scope="session")
async def shop(migrated_database_url: str) -> AsyncIterator[Shop]:
    database = databases.Database(migrated_database_url)
    await database.connect()
    shop = Shop(database)
    # Order ids, and so workflow ids, no other test of the session's server uses.
    await shop.stock_up(unique_order_id_base())
    yield shop
    await database.disconnect()


@pytest.fixture
def steps(shop: Shop) -> ControlledSteps:
    return ControlledSteps(OrderSteps(shop.database))


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


def step_activities(steps: ControlledSteps, gateway: RecordingGateway) -> OrderStepActivities:
    return OrderStepActivities(steps, gateway, NoRelay(), Uncounted())


def order_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    activities: OrderStepActivities,
    interceptors: Sequence[Interceptor] = (),
    client: Client | None = None,
) -> Worker:
    return Worker(
        client or env.client,
        task_queue=task_queue,
        interceptors=interceptors,
        workflows=[OrderProcessingWorkflow],
        activities=[
            activities.advance_order,
            activities.validate_order,
            activities.reserve_stock,
            activities.process_payment,
            activities.complete_order,
            activities.stop_order,
        ],
    )


@pytest_asyncio.fixture(loop_scope="session")
async def orders(
    workflow_env: WorkflowEnvironment,
    task_queue: str,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
) -> AsyncIterator[OrderRunner]:
    async with order_worker(workflow_env, task_queue, step_activities(steps, gateway)):
        yield OrderRunner(workflow_env.client, task_queue, shop)
