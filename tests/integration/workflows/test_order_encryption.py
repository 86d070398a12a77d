"""With a payload encryption key, an order's history on the server holds no customer data in
clear, while the workflow's own clients still read its result and its state."""

from __future__ import annotations

import base64
import os

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from runtime.temporal.client import data_converter
from runtime.temporal.settings import TemporalSettings
from schemas.order import OrderStatus
from tests.integration.workflows.conftest import order_worker, step_activities
from tests.integration.workflows.fakes import an_order
from tests.integration.workflows.harness import OrderRunner
from tests.integration.workflows.shop import ControlledSteps, Shop
from tests.support.fakes import RecordingGateway

EMAIL = b"ada@example.com"
TOKEN = "tok_visa_4242_secret"


def encrypted(client: Client) -> Client:
    """A client of the same server whose payloads are encrypted under a fresh key."""
    key = base64.b64encode(os.urandom(32)).decode()
    settings = TemporalSettings.model_validate({"payload_encryption_key": key})
    return Client(
        client.service_client, namespace=client.namespace, data_converter=data_converter(settings)
    )


def raw_bytes(history: WorkflowHistory) -> bytes:
    """Every event as the server stores it, payload bytes included, undecoded."""
    return b"".join(event.SerializeToString() for event in history.events)


async def test_an_encrypted_order_leaves_no_email_or_payment_token_in_its_history(
    workflow_env: WorkflowEnvironment,
    task_queue: str,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
) -> None:
    client = encrypted(workflow_env.client)
    activities = step_activities(steps, gateway)
    async with order_worker(workflow_env, task_queue, activities, client=client):
        orders = OrderRunner(client, task_queue, shop)
        handle = await orders.start(an_order(order_id, token=TOKEN))
        result = await orders.result_of(handle)
        state = await orders.state_of(handle)

    assert result.status == OrderStatus.COMPLETED
    assert state.status == OrderStatus.COMPLETED
    history = raw_bytes(await handle.fetch_history())
    assert b"binary/encrypted" in history
    assert EMAIL not in history
    assert TOKEN.encode() not in history


async def test_an_order_without_a_key_keeps_its_email_and_token_in_clear_in_its_history(
    orders: OrderRunner, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, token=TOKEN))
    await orders.result_of(handle)

    history = raw_bytes(await handle.fetch_history())
    assert EMAIL in history
    assert TOKEN.encode() in history
