"""A step retrying because MySQL cannot be reached says why in the Temporal UI: its pending
activity's last failure is the database error's type and message, encrypted or not."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Iterator

import databases
import pytest
import pytest_asyncio
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from db.connection import database_for
from db.inventory import InventoryRepository
from schemas import failures
from schemas.order import OrderStatus
from schemas.workflow_io import StatusChange
from tests.workflows.fakes import WAIT_SECONDS, FakeOrderActivities, an_order
from tests.workflows.harness import OrderHandle, OrderRunner
from tests.workflows.test_order_encryption import encrypted
from worker.activities import InventoryActivities
from worker.activity_failures import CompactFailures
from worker.workflows import OrderProcessingWorkflow

# The server's default `limit.mutableStateActivityFailureSize.error`: a larger last failure is
# replaced by "Failure exceeds size limit.".
KEPT_FAILURE_BYTES = 2048


class _Unannounced:
    """Drops the statuses a step carries: only the step's own failure matters here."""

    async def announce(self, changes: Iterable[StatusChange]) -> None:
        pass


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port that is bound but never listens: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest_asyncio.fixture
async def unreachable_mysql(refused_port: int) -> AsyncIterator[databases.Database]:
    """A pool with no connection yet, whose every connection attempt is refused."""
    database = database_for(
        f"mysql+asyncmy://ordering:ordering@127.0.0.1:{refused_port}/ordering_system", min_size=0
    )
    await database.connect()
    yield database
    await database.disconnect()


async def pending_after_a_failure(handle: OrderHandle) -> PendingActivityInfo:
    """The workflow's pending activity, once an attempt of it has failed."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                if pending.HasField("last_failure"):
                    return pending
            await asyncio.sleep(0.02)


async def decoded(client: Client, pending: PendingActivityInfo) -> BaseException:
    """The last failure as the Temporal UI shows it (through the codec server when encrypted)."""
    failure = Failure()
    failure.CopyFrom(pending.last_failure)  # decoding rewrites the failure it is given
    return await client.data_converter.decode_failure(failure)


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_a_step_retrying_on_unreachable_mysql_shows_the_database_error_as_last_failure(
    workflow_env: WorkflowEnvironment,
    task_queue: str,
    order_id: int,
    unreachable_mysql: databases.Database,
    encrypt: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = encrypted(workflow_env.client) if encrypt else workflow_env.client
    inventory = InventoryActivities(_Unannounced(), InventoryRepository(unreachable_mysql))
    fakes = [act for act in FakeOrderActivities().activities if act.__name__ != "reserve_stock"]
    async with Worker(
        client, task_queue=task_queue, workflows=[OrderProcessingWorkflow],
        activities=[*fakes, inventory.reserve_stock], interceptors=[CompactFailures()],
    ):  # fmt: skip
        order = an_order(order_id).model_copy(update={"activity_max_attempts": 1000})
        handle = await OrderRunner(client, task_queue).start(order)
        try:
            pending = await pending_after_a_failure(handle)
        finally:
            await handle.terminate("test over")

    assert pending.activity_type.name == "reserve_stock"
    assert pending.last_failure.ByteSize() <= KEPT_FAILURE_BYTES
    error = await decoded(client, pending)
    assert isinstance(error, ApplicationError), f"{type(error).__name__}: {error}"
    assert (error.type, error.non_retryable) == ("DatabaseUnavailableError", False)
    assert error.cause is None
    assert error.message.startswith("database unavailable: Can't connect to MySQL server")
    # The chain the failure leaves out is in the worker's log.
    assert "asyncmy.errors.OperationalError: (2003" in caplog.text


async def test_a_business_failure_still_fails_the_order_with_its_reason(
    workflow_env: WorkflowEnvironment, task_queue: str, order_id: int
) -> None:
    fakes = FakeOrderActivities(stock={1: 0, 7: 100})
    async with Worker(
        workflow_env.client, task_queue=task_queue, workflows=[OrderProcessingWorkflow],
        activities=fakes.activities, interceptors=[CompactFailures()],
    ):  # fmt: skip
        result = await OrderRunner(workflow_env.client, task_queue).run(an_order(order_id))

    assert (result.status, result.reason) == (OrderStatus.FAILED, failures.insufficient_stock(1))
    assert fakes.journal.count("reserve_stock") == 1
