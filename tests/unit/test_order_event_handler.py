"""The consumer's handler: one order and one workflow per order_ref, cancellations as signals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from consumer.errors import EventRejected, TransientError
from consumer.handlers import OrderEventHandler, Outcome, WorkflowOptions
from db.sealing import OrderSecrets, Sealer
from schemas.order import OrderStatus
from schemas.workflow_io import OrderLine
from tests.support.examples import contract_order_placed
from tests.support.fakes import FakeOrderStore, FakeOrderWorkflows

REF = "web-000123"
KEY = REF.encode()
EMAIL = "ada.lovelace@example.com"
TOKEN = "tok_ok"
DOLLARS_ONLY = frozenset({"USD"})
OPTIONS = WorkflowOptions(
    cancel_window_seconds=5.0,
    activity_timeout_seconds=12.0,
    activity_max_attempts=4,
    activity_initial_interval_seconds=0.5,
)


def placed(**order_changes: Any) -> bytes:
    return _encoded(contract_order_placed(email=EMAIL, token=TOKEN, order_ref=REF, **order_changes))


def cancellation(order_ref: str = REF, reason: str = "customer changed mind") -> bytes:
    return _encoded(
        {
            "event_id": "9d0c4e1a",
            "event_type": "OrderCancellationRequested",
            "schema_version": 1,
            "occurred_at": "2026-11-26T12:05:00Z",
            "order_ref": order_ref,
            "reason": reason,
        }
    )


def _encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


@pytest.fixture
def handler(store: FakeOrderStore, workflows: FakeOrderWorkflows) -> OrderEventHandler:
    return OrderEventHandler(
        store, workflows, OPTIONS, max_message_bytes=65536, accepted_currencies=DOLLARS_ONLY,
        sealer=None,
    )  # fmt: skip


async def test_a_placed_order_is_stored_once_and_its_workflow_started(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    outcome = await handler.handle(KEY, placed())

    assert outcome is Outcome.STARTED
    assert workflows.started_as_new == [True]  # a new row: any existing workflow is a stranger
    row = store.rows[REF]
    assert (row.customer_id, row.total_amount, row.status) == (
        42,
        Decimal("44.98"),
        OrderStatus.PENDING,
    )
    assert row.temporal_workflow_id == f"order-{row.id}"
    assert [started.order_id for started in workflows.started] == [row.id]


async def test_the_workflow_input_carries_the_order_and_the_workflow_options(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await handler.handle(KEY, placed())

    (started,) = workflows.started
    assert started.order_id == store.rows[REF].id
    assert (started.order_ref, started.customer_id, started.customer_email) == (REF, 42, EMAIL)
    assert started.items == (
        OrderLine(product_id=1, quantity=2, unit_price=Decimal("19.99")),
        OrderLine(product_id=7, quantity=1, unit_price=Decimal("5.00")),
    )
    assert (started.currency, started.total_amount) == ("USD", Decimal("44.98"))
    assert (started.payment_method, started.payment_token) == ("card", TOKEN)
    assert (
        started.cancel_window_seconds,
        started.activity_timeout_seconds,
        started.activity_max_attempts,
        started.activity_initial_interval_seconds,
    ) == (5.0, 12.0, 4, 0.5)


async def test_the_order_lines_are_stored_with_the_order(
    handler: OrderEventHandler, store: FakeOrderStore
) -> None:
    await handler.handle(KEY, placed())

    lines = store.items[store.rows[REF].id]
    assert [(line.product_id, line.quantity, line.unit_price) for line in lines] == [
        (1, 2, Decimal("19.99")),
        (7, 1, Decimal("5.00")),
    ]


async def test_a_redelivered_order_starts_no_second_workflow(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await handler.handle(KEY, placed())

    outcome = await handler.handle(KEY, placed())

    assert outcome is Outcome.DUPLICATE
    assert len(store.rows) == 1
    assert len(workflows.started) == 1


async def test_a_redelivery_after_a_failed_start_starts_the_stored_order(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    workflows.fail_next_calls(1)
    with pytest.raises(TransientError):
        await handler.handle(KEY, placed())
    assert store.rows[REF].temporal_workflow_id is None

    outcome = await handler.handle(KEY, placed())

    row = store.rows[REF]
    assert outcome is Outcome.STARTED
    # The first try started a row it had just created; the retry found the row stored.
    assert workflows.started_as_new == [False]
    assert [started.order_id for started in workflows.started] == [row.id]
    assert row.temporal_workflow_id == f"order-{row.id}"
    assert len(store.rows) == 1


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"total_amount": "39.98"}, id="amount"),
        pytest.param({"customer_id": 43}, id="customer"),
        pytest.param({"payment": {"method": "card", "token": "tok_decline"}}, id="payment"),
        pytest.param(
            {"items": [{"product_id": 1, "quantity": 2, "unit_price": "19.99"}]}, id="items"
        ),
    ],
)
async def test_the_same_ref_with_different_content_is_rejected_and_the_first_stands(
    handler: OrderEventHandler,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    changes: dict[str, Any],
) -> None:
    await handler.handle(KEY, placed())
    first = store.rows[REF]

    with pytest.raises(EventRejected) as rejected:
        await handler.handle(KEY, placed(**changes))

    assert rejected.value.reason == "conflicting_duplicate"
    assert store.rows == {REF: first}
    assert len(workflows.started) == 1


async def test_a_conflicting_duplicate_is_rejected_without_customer_data_in_the_message(
    handler: OrderEventHandler,
) -> None:
    await handler.handle(KEY, placed())

    with pytest.raises(EventRejected) as rejected:
        await handler.handle(
            KEY, placed(customer_email="grace@example.com", total_amount="12345.67")
        )

    text = f"{rejected.value} {rejected.value.message}"
    for value in (REF, EMAIL, "grace@example.com", TOKEN, "12345.67", "44.98", "19.99"):
        assert value not in text


async def test_a_cancellation_for_an_unknown_order_is_rejected(
    handler: OrderEventHandler, workflows: FakeOrderWorkflows
) -> None:
    with pytest.raises(EventRejected) as rejected:
        await handler.handle(b"web-999999", cancellation("web-999999"))

    assert rejected.value.reason == "unknown_order"
    assert "web-999999" not in str(rejected.value)
    assert workflows.signals == []


@pytest.mark.parametrize(
    "status", [OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED]
)
async def test_a_cancellation_for_a_finished_order_is_ignored_without_a_signal(
    handler: OrderEventHandler,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    status: OrderStatus,
) -> None:
    await handler.handle(KEY, placed())
    store.set_status(REF, status)

    outcome = await handler.handle(KEY, cancellation())

    assert outcome is Outcome.CANCEL_IGNORED
    assert workflows.signals == []
    assert store.rows[REF].status is status


async def test_a_cancellation_for_a_running_order_signals_its_workflow_with_the_reason(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await handler.handle(KEY, placed())
    store.set_status(REF, OrderStatus.PROCESSING_PAYMENT)

    outcome = await handler.handle(KEY, cancellation(reason="found it cheaper"))

    assert outcome is Outcome.CANCEL_SIGNALLED
    assert workflows.signals == [(f"order-{store.rows[REF].id}", "found it cheaper")]
    assert store.cancellations == {store.rows[REF].id: "found it cheaper"}


async def test_a_cancellation_is_recorded_before_it_is_signalled_and_not_signalled_once_ended(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    """The order completes between the handler's lookup and its recording of the request:
    MySQL refuses the request, and no signal goes out for an order that has ended."""
    await handler.handle(KEY, placed())
    store.set_status(REF, OrderStatus.CONFIRMED)
    record = store.record_cancellation

    async def completed_meanwhile(order_id: int, reason: str) -> bool:
        assert workflows.signals == []  # nothing signalled before the request is recorded
        store.set_status(REF, OrderStatus.COMPLETED)
        return await record(order_id, reason)

    store.record_cancellation = completed_meanwhile  # type: ignore[method-assign]

    outcome = await handler.handle(KEY, cancellation())

    assert outcome is Outcome.CANCEL_IGNORED
    assert workflows.signals == []


async def test_a_cancellation_for_a_closed_workflow_is_ignored(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await handler.handle(KEY, placed())
    workflows.closed.add(f"order-{store.rows[REF].id}")

    outcome = await handler.handle(KEY, cancellation())

    assert outcome is Outcome.CANCEL_IGNORED
    assert workflows.signals == []


async def test_a_cancellation_before_the_workflow_is_started_is_retried_later(
    handler: OrderEventHandler, workflows: FakeOrderWorkflows
) -> None:
    workflows.fail_next_calls(1)
    with pytest.raises(TransientError):
        await handler.handle(KEY, placed())

    with pytest.raises(TransientError):
        await handler.handle(KEY, cancellation())

    assert workflows.signals == []


async def test_a_cancellation_is_retried_when_temporal_is_unavailable(
    handler: OrderEventHandler, workflows: FakeOrderWorkflows
) -> None:
    await handler.handle(KEY, placed())
    workflows.fail_next_calls(1)

    with pytest.raises(TransientError):
        await handler.handle(KEY, cancellation())
    outcome = await handler.handle(KEY, cancellation())

    assert outcome is Outcome.CANCEL_SIGNALLED
    assert len(workflows.signals) == 1


@pytest.mark.parametrize("value", [placed(), cancellation()], ids=["placed", "cancellation"])
async def test_an_unavailable_database_makes_the_event_transient(
    handler: OrderEventHandler,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    value: bytes,
) -> None:
    store.unavailable = True

    with pytest.raises(TransientError):
        await handler.handle(KEY, value)

    assert workflows.started == []
    assert workflows.signals == []


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param(KEY, b"\xff\xfe not text", "not_utf8", id="not_utf8"),
        pytest.param(KEY, b"{not json", "not_json", id="not_json"),
        pytest.param(KEY, b"[]", "not_an_object", id="not_an_object"),
        pytest.param(KEY, placed(total_amount=44.98), "schema_violation", id="number_money"),
        pytest.param(b"web-000999", placed(), "key_mismatch", id="key_mismatch"),
        pytest.param(KEY, b"   ", "empty", id="empty"),
    ],
)
async def test_a_poison_message_is_rejected_with_the_decoders_reason_and_nothing_stored(
    handler: OrderEventHandler,
    store: FakeOrderStore,
    workflows: FakeOrderWorkflows,
    key: bytes,
    value: bytes,
    reason: str,
) -> None:
    with pytest.raises(EventRejected) as rejected:
        await handler.handle(key, value)

    assert rejected.value.reason == reason
    assert store.rows == {}
    assert workflows.started == []


async def test_a_message_over_the_size_limit_is_rejected_before_it_is_read(
    store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    small = OrderEventHandler(
        store, workflows, OPTIONS, max_message_bytes=100, accepted_currencies=DOLLARS_ONLY,
        sealer=None,
    )  # fmt: skip

    with pytest.raises(EventRejected) as rejected:
        await small.handle(KEY, placed())

    assert rejected.value.reason == "too_large"
    assert store.rows == {}


async def test_an_order_in_a_currency_not_accepted_is_rejected_naming_the_accepted_ones(
    handler: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    with pytest.raises(EventRejected) as rejected:
        await handler.handle(KEY, placed(currency="ZZZ"))

    assert rejected.value.reason == "unsupported_currency"
    assert rejected.value.message == "Currency is not one this system accepts (USD)"
    assert store.rows == {}
    assert workflows.started == []


async def test_a_currency_added_to_the_accepted_ones_is_taken(
    store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    euro_too = OrderEventHandler(
        store, workflows, OPTIONS, max_message_bytes=65536,
        accepted_currencies=frozenset({"USD", "EUR"}), sealer=None,
    )  # fmt: skip

    await euro_too.handle(KEY, placed(currency="EUR"))

    assert [row.currency for row in store.rows.values()] == ["EUR"]
    assert len(workflows.started) == 1


SEALER = Sealer("key-1", bytes(range(32)))


@pytest.fixture
def sealing(store: FakeOrderStore, workflows: FakeOrderWorkflows) -> OrderEventHandler:
    """The handler of a deployment with a payload key: secrets stored sealed with it."""
    return OrderEventHandler(
        store, workflows, OPTIONS, max_message_bytes=65536, accepted_currencies=DOLLARS_ONLY,
        sealer=SEALER,
    )  # fmt: skip


async def test_with_a_payload_key_the_email_and_token_are_stored_sealed_and_never_in_clear(
    sealing: OrderEventHandler, store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    await sealing.handle(KEY, placed())

    [row] = store.rows.values()
    sealed = store.sealed[row.id]
    assert row.customer_email is None
    assert sealed is not None
    assert EMAIL.encode() not in sealed
    assert TOKEN.encode() not in sealed
    assert SEALER.open(REF, sealed) == OrderSecrets(customer_email=EMAIL, payment_token=TOKEN)
    [started] = workflows.started
    assert (started.customer_email, started.payment_token) == (EMAIL, TOKEN)


async def test_the_longest_token_the_contract_accepts_is_stored_sealed_in_any_script(
    sealing: OrderEventHandler, store: FakeOrderStore
) -> None:
    token = "\U0001f600" * 128  # 128 characters of 4 bytes each

    outcome = await sealing.handle(KEY, _encoded(contract_order_placed(email=EMAIL, token=token)))

    assert outcome is Outcome.STARTED
    [row] = store.rows.values()
    sealed = store.sealed[row.id]
    assert sealed is not None
    assert SEALER.open(REF, sealed).payment_token == token


async def test_without_a_payload_key_the_email_is_stored_in_clear_and_the_token_not_at_all(
    handler: OrderEventHandler, store: FakeOrderStore
) -> None:
    await handler.handle(KEY, placed())

    [row] = store.rows.values()
    assert (row.customer_email, store.sealed[row.id]) == (EMAIL, None)


async def test_each_start_is_reported_with_the_time_its_event_occurred(
    store: FakeOrderStore, workflows: FakeOrderWorkflows
) -> None:
    starts: list[datetime | None] = []

    class Starts:
        def workflow_started(self, occurred_at: datetime | None) -> None:
            starts.append(occurred_at)

    measured = OrderEventHandler(
        store, workflows, OPTIONS, max_message_bytes=65536, accepted_currencies=DOLLARS_ONLY,
        sealer=None, metrics=Starts(),
    )  # fmt: skip

    await measured.handle(KEY, placed())
    await measured.handle(KEY, placed())  # started already: nothing to report

    assert starts == [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
