"""The order activities over in-memory ports: their effects, their failures, their repeats."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from db.errors import DatabaseUnavailableError
from db.payments import PaymentStatus
from schemas.order import OrderStatus
from schemas.workflow_io import (
    PROCESS_PAYMENT_ACTIVITY,
    REFUND_PAYMENT_ACTIVITY,
    RELEASE_STOCK_ACTIVITY,
    RESERVE_STOCK_ACTIVITY,
    SEND_ORDER_CONFIRMATION_ACTIVITY,
    UPDATE_STATUS_ACTIVITY,
    VALIDATE_ORDER_ACTIVITY,
    ConfirmationInput,
    OrderLine,
    PaymentInput,
    RefundInput,
    StatusChange,
    StockInput,
    ValidateOrderInput,
)
from tests.support.fakes import (
    FakeCatalogue,
    FakeInventory,
    FakeNotifications,
    FakePayments,
    FakeRelay,
    FakeStatusStore,
    RecordingGateway,
)
from worker.activities import (
    CatalogueActivities,
    InventoryActivities,
    NotificationActivities,
    OrderStatusActivities,
    PaymentActivities,
)
from worker.errors import GatewayUnavailableError

ORDER_ID = 17
ITEMS = (
    OrderLine(product_id=1, quantity=2, unit_price=Decimal("19.99")),
    OrderLine(product_id=7, quantity=1, unit_price=Decimal("5.00")),
)
CATALOGUE = {1: Decimal("19.99"), 7: Decimal("5.00")}


def statuses() -> OrderStatusActivities:
    return OrderStatusActivities(FakeStatusStore(), FakeRelay())


def environment(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


def a_status_change(sequence: int = 3, reason: str | None = None) -> StatusChange:
    return StatusChange(
        order_id=ORDER_ID,
        order_ref="web-000123",
        workflow_id=f"order-{ORDER_ID}",
        sequence=sequence,
        previous_status=OrderStatus.VALIDATING,
        status=OrderStatus.RESERVING_STOCK,
        reason=reason,
        occurred_at=datetime(2026, 11, 26, 12, 0, 1, 250000, tzinfo=UTC),
    )


def a_payment(token: str = "tok_ok", amount: str = "44.98") -> PaymentInput:
    return PaymentInput(
        order_id=ORDER_ID,
        order_ref="web-000123",
        amount=Decimal(amount),
        currency="USD",
        payment_method="card",
        payment_token=token,
    )


def application_error(raised: pytest.ExceptionInfo[ApplicationError]) -> tuple[str, str, bool]:
    error = raised.value
    return error.type or "", error.message, error.non_retryable


# update_status


async def test_a_status_change_is_recorded_with_its_event_and_wakes_the_relay() -> None:
    store, relay = FakeStatusStore(), FakeRelay()
    activities = OrderStatusActivities(store, relay)
    change = a_status_change(sequence=3)

    await environment().run(activities.update_status, change)

    assert store.changes == [change]
    [(event, headers)] = store.outbox
    assert event.event_id == f"order-{ORDER_ID}:3"
    assert headers == {}  # tracing is off: no trace context to carry
    assert relay.wakes == 1


async def test_a_repeated_status_change_writes_no_second_event() -> None:
    store = FakeStatusStore()
    activities = OrderStatusActivities(store, FakeRelay())

    await environment().run(activities.update_status, a_status_change(sequence=4))
    await environment(attempt=2).run(activities.update_status, a_status_change(sequence=4))

    assert [event.event_id for event, _ in store.outbox] == [f"order-{ORDER_ID}:4"]


async def test_a_status_that_cannot_be_recorded_does_not_wake_the_relay() -> None:
    store, relay = FakeStatusStore(), FakeRelay()
    store.unavailable = True
    activities = OrderStatusActivities(store, relay)

    with pytest.raises(DatabaseUnavailableError):
        await environment().run(activities.update_status, a_status_change())

    assert store.outbox == []
    assert relay.wakes == 0


# validate_order


async def test_an_order_matching_the_catalogue_is_valid() -> None:
    activities = CatalogueActivities(statuses(), FakeCatalogue(CATALOGUE))
    order = ValidateOrderInput(order_id=ORDER_ID, items=ITEMS, total_amount=Decimal("44.98"))

    await environment().run(activities.validate_order, order)


@pytest.mark.parametrize(
    ("items", "total", "failure_type", "reason"),
    [
        pytest.param(
            (*ITEMS, OrderLine(product_id=99, quantity=1, unit_price=Decimal("1.00"))),
            "45.98",
            "UnknownProduct",
            "unknown_product:product=99",
            id="unknown_product",
        ),
        pytest.param(
            (OrderLine(product_id=1, quantity=2, unit_price=Decimal("9.99")),),
            "19.98",
            "PriceMismatch",
            "price_mismatch",
            id="price_mismatch",
        ),
        pytest.param(ITEMS, "50.00", "TotalMismatch", "total_mismatch", id="total_mismatch"),
    ],
)
async def test_an_order_breaking_a_rule_fails_for_good_with_its_reason(
    items: tuple[OrderLine, ...], total: str, failure_type: str, reason: str
) -> None:
    activities = CatalogueActivities(statuses(), FakeCatalogue(CATALOGUE))
    order = ValidateOrderInput(order_id=ORDER_ID, items=items, total_amount=Decimal(total))

    with pytest.raises(ApplicationError) as raised:
        await environment().run(activities.validate_order, order)

    assert application_error(raised) == (failure_type, reason, True)


# reserve_stock and release_stock


async def test_stock_is_reserved_for_every_line() -> None:
    inventory = FakeInventory({1: 5, 7: 5})
    activities = InventoryActivities(statuses(), inventory)

    await environment().run(activities.reserve_stock, StockInput(order_id=ORDER_ID, items=ITEMS))

    assert inventory.stock == {1: 3, 7: 4}


async def test_a_retried_reservation_takes_the_stock_only_once() -> None:
    inventory = FakeInventory({1: 5, 7: 5})
    activities = InventoryActivities(statuses(), inventory)
    stock = StockInput(order_id=ORDER_ID, items=ITEMS)

    await environment().run(activities.reserve_stock, stock)
    await environment(attempt=2).run(activities.reserve_stock, stock)

    assert inventory.stock == {1: 3, 7: 4}


async def test_too_little_stock_fails_for_good_naming_the_product() -> None:
    inventory = FakeInventory({1: 5, 7: 0})
    activities = InventoryActivities(statuses(), inventory)

    with pytest.raises(ApplicationError) as raised:
        await environment().run(
            activities.reserve_stock, StockInput(order_id=ORDER_ID, items=ITEMS)
        )

    assert application_error(raised) == ("InsufficientStock", "insufficient_stock:product=7", True)
    assert inventory.stock == {1: 5, 7: 0}


async def test_released_stock_is_free_again() -> None:
    inventory = FakeInventory({1: 5, 7: 5})
    activities = InventoryActivities(statuses(), inventory)
    stock = StockInput(order_id=ORDER_ID, items=ITEMS)
    await environment().run(activities.reserve_stock, stock)

    await environment().run(activities.release_stock, stock)
    await environment(attempt=2).run(activities.release_stock, stock)

    assert inventory.stock == {1: 5, 7: 5}


# process_payment and refund_payment


async def test_a_payment_is_captured_and_recorded() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)

    result = await environment().run(activities.process_payment, a_payment())

    row = payments.rows[ORDER_ID]
    assert (row.payment_id, row.amount, row.currency, row.status) == (
        result.payment_id,
        Decimal("44.98"),
        "USD",
        PaymentStatus.CAPTURED,
    )
    assert gateway.captures == [(result.payment_id, Decimal("44.98"))]


async def test_a_payment_processed_twice_is_captured_once() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)

    first = await environment().run(activities.process_payment, a_payment())
    again = await environment(attempt=2).run(activities.process_payment, a_payment())

    assert again == first
    assert len(gateway.captures) == 1
    assert list(payments.rows) == [ORDER_ID]


async def test_a_declined_payment_fails_for_good() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)

    with pytest.raises(ApplicationError) as raised:
        await environment().run(activities.process_payment, a_payment(token="tok_decline"))

    assert application_error(raised) == ("PaymentDeclined", "payment_declined", True)
    assert payments.rows == {}
    assert gateway.captures == []


async def test_an_amount_over_the_limit_is_declined_for_good() -> None:
    activities = PaymentActivities(statuses(), FakePayments(), RecordingGateway())

    with pytest.raises(ApplicationError) as raised:
        await environment().run(activities.process_payment, a_payment(amount="10000.01"))

    assert application_error(raised) == ("PaymentDeclined", "payment_declined", True)


async def test_an_unavailable_gateway_fails_the_attempt_so_temporal_retries_it() -> None:
    payments = FakePayments()
    activities = PaymentActivities(statuses(), payments, RecordingGateway())

    with pytest.raises(GatewayUnavailableError):
        await environment(attempt=1).run(activities.process_payment, a_payment("tok_flaky"))

    assert payments.rows == {}


async def test_a_flaky_payment_is_captured_on_its_third_attempt() -> None:
    payments = FakePayments()
    activities = PaymentActivities(statuses(), payments, RecordingGateway())

    result = await environment(attempt=3).run(activities.process_payment, a_payment("tok_flaky"))

    assert payments.rows[ORDER_ID].payment_id == result.payment_id


async def test_a_captured_payment_is_refunded() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)
    captured = await environment().run(activities.process_payment, a_payment())

    await environment().run(activities.refund_payment, RefundInput(order_id=ORDER_ID))

    assert payments.rows[ORDER_ID].status is PaymentStatus.REFUNDED
    assert gateway.refunds == [(captured.payment_id, Decimal("44.98"))]


async def test_a_retried_refund_refunds_the_capture_once() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)
    await environment().run(activities.process_payment, a_payment())

    await environment().run(activities.refund_payment, RefundInput(order_id=ORDER_ID))
    await environment(attempt=2).run(activities.refund_payment, RefundInput(order_id=ORDER_ID))

    assert len(gateway.refunds) == 1


async def test_a_refund_without_a_capture_does_nothing() -> None:
    payments, gateway = FakePayments(), RecordingGateway()
    activities = PaymentActivities(statuses(), payments, gateway)

    await environment().run(activities.refund_payment, RefundInput(order_id=ORDER_ID))

    assert payments.rows == {}
    assert gateway.refunds == []


# send_order_confirmation


async def test_a_confirmation_sent_twice_goes_out_once(caplog: pytest.LogCaptureFixture) -> None:
    notifications = FakeNotifications()
    activities = NotificationActivities(statuses(), notifications)
    confirmation = ConfirmationInput(
        order_id=ORDER_ID, order_ref="web-000123", customer_email="ada@example.com"
    )

    with caplog.at_level(logging.INFO, logger="worker.activities"):
        await environment().run(activities.send_order_confirmation, confirmation)
        await environment(attempt=2).run(activities.send_order_confirmation, confirmation)

    assert notifications.sent == [(ORDER_ID, "order_confirmation")]
    sent = [record for record in caplog.records if record.getMessage() == "order confirmation sent"]
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("method", "name"),
    [
        (OrderStatusActivities.update_status, UPDATE_STATUS_ACTIVITY),
        (CatalogueActivities.validate_order, VALIDATE_ORDER_ACTIVITY),
        (InventoryActivities.reserve_stock, RESERVE_STOCK_ACTIVITY),
        (InventoryActivities.release_stock, RELEASE_STOCK_ACTIVITY),
        (PaymentActivities.process_payment, PROCESS_PAYMENT_ACTIVITY),
        (PaymentActivities.refund_payment, REFUND_PAYMENT_ACTIVITY),
        (NotificationActivities.send_order_confirmation, SEND_ORDER_CONFIRMATION_ACTIVITY),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_older_activity_is_registered_under_its_methods_name(
    method: Callable[..., Awaitable[object]], name: str
) -> None:
    # The workflow calls these by reference and names a failed one by its method
    # (`step_failed:process_payment`); the histories of running orders name them too.
    registered = activity._Definition.must_from_callable(method).name  # no public accessor
    assert registered == name == method.__name__
