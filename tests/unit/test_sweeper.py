"""The sweeper: orders stored but never started are started from MySQL, without their record."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from consumer.handlers import WorkflowOptions
from consumer.sweeper import Sweeper
from db.order_rows import NewOrder
from db.sealing import OrderSecrets, Sealer
from schemas.workflow_io import STEPS_RETRIED_BY_THE_SERVER, OrderLine, OrderWorkflowInput
from tests.support.fakes import FakeOrderStore, FakeOrderWorkflows

SEALER = Sealer("key-1", bytes(range(32)))
OPTIONS = WorkflowOptions(cancel_window_seconds=5.0, activity_max_attempts=4)
LINES = (OrderLine(product_id=1, quantity=2, unit_price=Decimal("19.99")),)
CANNOT_START = "order stored but not started, and the sweeper cannot start it"


class Swept:
    def __init__(self) -> None:
        self.passes: list[tuple[int, int]] = []

    def sweep_done(self, started: int, unstartable: int) -> None:
        self.passes.append((started, unstartable))


def new_order(ref: str, *, sealer: Sealer | None = SEALER) -> NewOrder:
    secrets = OrderSecrets(customer_email=f"{ref}@example.com", payment_token="tok_ok")
    return NewOrder(
        order_ref=ref,
        customer_id=42,
        customer_email=None if sealer else secrets.customer_email,
        currency="USD",
        total_amount=Decimal("39.98"),
        payment_method="card",
        content_fingerprint="0" * 64,
        order_date=datetime(2026, 12, 7, tzinfo=UTC),
        items=LINES,
        sealed_secrets=sealer.seal(ref, secrets) if sealer else None,
    )


class AnnouncedStarts(FakeOrderWorkflows):
    def __init__(self) -> None:
        super().__init__()
        self.first_start = asyncio.Event()

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None:
        await super().start_order(workflow_input, new=new)
        self.first_start.set()


@pytest.fixture
def metrics() -> Swept:
    return Swept()


@pytest.fixture
def sweeper(store: FakeOrderStore, workflows: FakeOrderWorkflows, metrics: Swept) -> Sweeper:
    return Sweeper(store, workflows, OPTIONS, SEALER, metrics)


async def test_an_order_stored_but_not_started_is_started_with_the_input_its_record_gave(
    sweeper: Sweeper, store: FakeOrderStore, workflows: FakeOrderWorkflows, metrics: Swept
) -> None:
    stored = await store.insert_order(new_order("web-1"))

    assert await sweeper.sweep() == 1

    [started] = workflows.started
    assert workflows.started_as_new == [False]  # joins a workflow another start made
    assert (started.order_id, started.order_ref, started.customer_id) == (
        stored.order_id, "web-1", 42,
    )  # fmt: skip
    assert (started.customer_email, started.payment_token) == ("web-1@example.com", "tok_ok")
    assert (started.items, started.total_amount, started.currency) == (
        LINES, Decimal("39.98"), "USD",
    )  # fmt: skip
    assert (started.cancel_window_seconds, started.activity_max_attempts) == (5.0, 4)
    assert started.steps_version == STEPS_RETRIED_BY_THE_SERVER
    assert store.rows["web-1"].temporal_workflow_id == f"order-{stored.order_id}"
    assert metrics.passes == [(1, 0)]


async def test_a_started_order_is_not_swept_again(
    sweeper: Sweeper, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await store.insert_order(new_order("web-1"))
    await sweeper.sweep()

    assert await sweeper.sweep() == 0
    assert len(workflows.started) == 1


async def test_an_order_stored_without_its_token_is_reported_once_and_counted_each_pass(
    sweeper: Sweeper,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    metrics: Swept,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await store.insert_order(new_order("no-key", sealer=None))
    await store.insert_order(new_order("sealed"))

    with caplog.at_level(logging.ERROR, logger="consumer.sweeper"):
        await sweeper.sweep()
        await sweeper.sweep()

    assert [w.order_ref for w in workflows.started] == ["sealed"]
    reports = [r for r in caplog.records if CANNOT_START in r.getMessage()]
    assert [getattr(r, "order_ref", None) for r in reports] == ["no-key"]
    assert "stored without its payment token" in reports[0].getMessage()
    assert metrics.passes == [(1, 1), (0, 1)]
    assert store.rows["no-key"].temporal_workflow_id is None


async def test_secrets_sealed_for_another_order_are_refused_not_used(
    sweeper: Sweeper,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stored = await store.insert_order(new_order("victim"))
    store.sealed[stored.order_id] = SEALER.seal(
        "other", OrderSecrets(customer_email="x@example.com", payment_token="tok_stolen")
    )

    with caplog.at_level(logging.ERROR, logger="consumer.sweeper"):
        assert await sweeper.sweep() == 0

    assert workflows.started == []
    assert "cannot be opened" in caplog.text


async def test_sealed_secrets_without_the_key_are_reported_not_started(
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    metrics: Swept,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyless = Sweeper(store, workflows, OPTIONS, None, metrics)
    await store.insert_order(new_order("sealed"))

    with caplog.at_level(logging.ERROR, logger="consumer.sweeper"):
        assert await keyless.sweep() == 0

    assert workflows.started == []
    assert "PAYLOAD_ENCRYPTION_KEY is not set" in caplog.text


async def test_an_outage_puts_a_pass_off_and_the_next_pass_starts_the_order(
    store: FakeOrderStore, metrics: Swept
) -> None:
    workflows = AnnouncedStarts()
    sweeper = Sweeper(store, workflows, OPTIONS, SEALER, metrics, every=0.01)
    await store.insert_order(new_order("web-1"))
    workflows.fail_next_calls(1)  # Temporal away for the first pass
    stop = asyncio.Event()
    running = asyncio.create_task(sweeper.run(stop))

    async with asyncio.timeout(30):
        await workflows.first_start.wait()
    stop.set()
    await running

    assert [w.order_ref for w in workflows.started] == ["web-1"]
    assert store.rows["web-1"].temporal_workflow_id is not None
    assert metrics.passes[0] == (1, 0)  # the pass put off recorded nothing
