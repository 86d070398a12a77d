"""The wire models: what they accept, what they refuse and how they write JSON."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import (
    INBOUND_EVENT_ADAPTER,
    OrderCancellationRequested,
    OrderDetails,
    OrderItem,
    OrderPlaced,
    OrderStatusChanged,
    PaymentDetails,
    order_content_fingerprint,
    status_event,
)
from schemas.order import OrderStatus
from schemas.workflow_io import StatusChange

CONTRACT_ORDER_PLACED = """
{
  "event_id": "5b1f0f3e-2b7e-4c52-9a61-0d5d7f1f2a10",
  "event_type": "OrderPlaced",
  "schema_version": 1,
  "occurred_at": "2026-11-26T12:00:00Z",
  "order": {
    "order_ref": "web-000123",
    "customer_id": 42,
    "customer_email": "ada@example.com",
    "currency": "USD",
    "items": [
      {"product_id": 1, "quantity": 2, "unit_price": "19.99"},
      {"product_id": 7, "quantity": 1, "unit_price": "5.00"}
    ],
    "total_amount": "44.98",
    "payment": {"method": "card", "token": "tok_ok"}
  }
}
"""

CONTRACT_CANCELLATION = """
{"event_id": "9d0c4e1a-77f2-4b0e-8d5e-3f1b2c4d5e6f", "event_type": "OrderCancellationRequested",
 "schema_version": 1, "occurred_at": "2026-11-26T12:05:00Z", "order_ref": "web-000123",
 "reason": "customer changed mind"}
"""

CONTRACT_STATUS_CHANGED = """
{
  "event_id": "order-17:3",
  "event_type": "OrderStatusChanged",
  "schema_version": 1,
  "occurred_at": "2026-11-26T12:00:01.250Z",
  "order_id": 17,
  "order_ref": "web-000123",
  "workflow_id": "order-17",
  "sequence": 3,
  "previous_status": "VALIDATING",
  "status": "RESERVING_STOCK",
  "reason": null
}
"""


def placed_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(CONTRACT_ORDER_PLACED)
    return document


def with_value(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of `document` with the dotted `path` set to `value` (list indexes as numbers)."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target: Any = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return changed


def without(document: dict[str, Any], path: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target: Any = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    del target[last]
    return changed


def test_contract_order_placed_example_parses_into_exact_values() -> None:
    event = OrderPlaced.model_validate_json(CONTRACT_ORDER_PLACED)

    assert event.order_ref == "web-000123"
    assert event.occurred_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert event.order.customer_id == 42
    assert [(i.product_id, i.quantity, i.unit_price) for i in event.order.items] == [
        (1, 2, Decimal("19.99")),
        (7, 1, Decimal("5.00")),
    ]
    assert event.order.total_amount == Decimal("44.98")
    assert event.order.payment == PaymentDetails(method="card", token="tok_ok")


def test_contract_cancellation_example_parses() -> None:
    event = OrderCancellationRequested.model_validate_json(CONTRACT_CANCELLATION)

    assert event.order_ref == "web-000123"
    assert event.reason == "customer changed mind"


def test_cancellation_without_reason_gets_an_empty_reason() -> None:
    document = without(json.loads(CONTRACT_CANCELLATION), "reason")

    assert OrderCancellationRequested.model_validate_json(json.dumps(document)).reason == ""


@pytest.mark.parametrize(
    ("text", "expected_type"),
    [
        pytest.param(CONTRACT_ORDER_PLACED, OrderPlaced, id="order-placed"),
        pytest.param(CONTRACT_CANCELLATION, OrderCancellationRequested, id="cancellation"),
    ],
)
def test_inbound_adapter_picks_the_model_by_event_type(text: str, expected_type: type) -> None:
    assert type(INBOUND_EVENT_ADAPTER.validate_json(text)) is expected_type


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("producer", id="top-level"),
        pytest.param("order.channel", id="in-order"),
        pytest.param("order.items.0.discount", id="in-item"),
        pytest.param("order.payment.last4", id="in-payment"),
    ],
)
def test_extra_fields_are_ignored(path: str) -> None:
    document = with_value(placed_document(), path, "anything")

    event = OrderPlaced.model_validate_json(json.dumps(document))

    assert event == OrderPlaced.model_validate_json(CONTRACT_ORDER_PLACED)


@pytest.mark.parametrize(
    ("path", "value", "error_type"),
    [
        pytest.param("event_id", "", "string_too_short", id="empty-event-id"),
        pytest.param("event_id", "e" * 129, "string_too_long", id="long-event-id"),
        pytest.param("schema_version", 2, "literal_error", id="schema-version-2"),
        pytest.param("schema_version", "1", "literal_error", id="schema-version-string"),
        pytest.param("occurred_at", "2026-11-26T12:00:00", "timezone_aware", id="naive-time"),
        pytest.param("occurred_at", 1_790_000_000, "datetime_type", id="epoch-time"),
        pytest.param("order.order_ref", "web-\u0430123", "string_pattern_mismatch", id="cyrillic"),
        pytest.param("order.order_ref", "web\u200b-1", "string_pattern_mismatch", id="zero-width"),
        pytest.param("order.order_ref", "-web-1", "string_pattern_mismatch", id="leading-dash"),
        pytest.param("order.order_ref", "web-1\n", "string_pattern_mismatch", id="trailing-nl"),
        pytest.param("order.order_ref", "w" * 65, "string_too_long", id="long-order-ref"),
        pytest.param("order.customer_id", "42", "int_type", id="customer-id-string"),
        pytest.param("order.customer_id", 0, "greater_than", id="customer-id-zero"),
        pytest.param("order.customer_email", "ada@@example.com", "email_invalid", id="bad-email"),
        pytest.param(
            "order.customer_email", "a" * 250 + "@example.com", "email_invalid", id="long-email"
        ),
        pytest.param("order.currency", "usd", "string_pattern_mismatch", id="currency-case"),
        pytest.param("order.currency", "USDT", "string_pattern_mismatch", id="currency-4"),
        pytest.param("order.items", [], "too_short", id="no-items"),
        pytest.param(
            "order.items",
            [{"product_id": 1, "quantity": 1, "unit_price": "1.00"}] * 101,
            "too_long",
            id="101-items",
        ),
        pytest.param("order.items.0.product_id", 2**63, "less_than_equal", id="product-id-big"),
        pytest.param("order.items.0.quantity", 0, "greater_than_equal", id="quantity-0"),
        pytest.param("order.items.0.quantity", 10_001, "less_than_equal", id="quantity-10001"),
        pytest.param("order.items.0.quantity", 2.5, "int_type", id="quantity-fraction"),
        pytest.param("order.items.0.quantity", True, "int_type", id="quantity-bool"),
        pytest.param("order.payment.method", "", "string_too_short", id="empty-method"),
        pytest.param("order.payment.token", "t" * 129, "string_too_long", id="long-token"),
        pytest.param("order", "web-000123", "model_type", id="order-not-object"),
    ],
)
def test_invalid_order_placed_is_refused(path: str, value: object, error_type: str) -> None:
    document = with_value(placed_document(), path, value)

    with pytest.raises(ValidationError) as refused:
        OrderPlaced.model_validate_json(json.dumps(document))

    assert [(e["type"], ".".join(map(str, e["loc"]))) for e in refused.value.errors()] == [
        (error_type, path)
    ]


@pytest.mark.parametrize(
    "path",
    ["event_id", "occurred_at", "order", "order.customer_email", "order.items.0.unit_price"],
)
def test_missing_required_field_is_refused(path: str) -> None:
    document = without(placed_document(), path)

    with pytest.raises(ValidationError) as refused:
        OrderPlaced.model_validate_json(json.dumps(document))

    assert refused.value.errors()[0]["type"] == "missing"


def test_cancellation_reason_longer_than_500_characters_is_refused() -> None:
    document = with_value(json.loads(CONTRACT_CANCELLATION), "reason", "r" * 501)

    with pytest.raises(ValidationError, match="at most 500 characters"):
        OrderCancellationRequested.model_validate_json(json.dumps(document))


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        pytest.param("19.99", Decimal("19.99"), id="two-places"),
        pytest.param("5", Decimal("5.00"), id="whole"),
        pytest.param("5.00", Decimal("5.00"), id="whole-with-cents"),
        pytest.param("0.5", Decimal("0.50"), id="one-place"),
        pytest.param("0", Decimal("0.00"), id="zero"),
        pytest.param("99999999.99", Decimal("99999999.99"), id="decimal-10-2-maximum"),
    ],
)
def test_money_string_becomes_a_cent_exact_decimal(text: str, amount: Decimal) -> None:
    item = OrderItem.model_validate_json(
        json.dumps({"product_id": 1, "quantity": 1, "unit_price": text})
    )

    assert item.unit_price == amount
    assert item.unit_price.as_tuple().exponent == -2
    assert json.loads(item.model_dump_json())["unit_price"] == format(amount, "f")


@pytest.mark.parametrize(
    ("raw_price", "message"),
    [
        pytest.param("9.99", "not a number", id="json-float"),
        pytest.param("5", "not a number", id="json-integer"),
        pytest.param('"19.999"', "at most 2 decimal places", id="three-places"),
        pytest.param('"-1.00"', "must not be negative", id="negative"),
        pytest.param('"100000000.00"', "at most 10 digits", id="eleven-digits"),
        pytest.param('"1e3"', "plain decimal", id="exponent"),
        pytest.param('"NaN"', "plain decimal", id="nan"),
        pytest.param('"Infinity"', "plain decimal", id="infinity"),
        pytest.param('" 1.00"', "plain decimal", id="leading-space"),
        pytest.param('"1.00 "', "plain decimal", id="trailing-space"),
        pytest.param('"1,00"', "plain decimal", id="comma"),
        pytest.param('"+1.00"', "plain decimal", id="plus-sign"),
        pytest.param('"1."', "plain decimal", id="bare-point"),
        pytest.param('".50"', "plain decimal", id="no-whole-part"),
        pytest.param('""', "plain decimal", id="empty"),
        pytest.param('"\u0661\u0662"', "plain decimal", id="arabic-indic-digits"),
        pytest.param("null", "not a number", id="null"),
    ],
)
def test_money_refuses_anything_but_a_plain_decimal_string(raw_price: str, message: str) -> None:
    text = '{"product_id": 1, "quantity": 1, "unit_price": ' + raw_price + "}"

    with pytest.raises(ValidationError, match=message) as refused:
        OrderItem.model_validate_json(text)

    assert refused.value.errors()[0]["type"] in {"money_type", "money_format"}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        pytest.param(Decimal("19.99"), True, id="decimal"),
        pytest.param("19.99", True, id="string"),
        pytest.param(Decimal("19.999"), False, id="decimal-three-places"),
        pytest.param(Decimal("NaN"), False, id="decimal-nan"),
        pytest.param(19.99, False, id="float"),
        pytest.param(19, False, id="int"),
    ],
)
def test_money_built_in_python_takes_decimals_but_never_floats(
    value: object, accepted: bool
) -> None:
    document = {"product_id": 1, "quantity": 1, "unit_price": value}

    if accepted:
        assert OrderItem.model_validate(document).unit_price == Decimal("19.99")
    else:
        with pytest.raises(ValidationError):
            OrderItem.model_validate(document)


def test_payment_token_and_email_never_appear_in_repr() -> None:
    event = OrderPlaced.model_validate_json(CONTRACT_ORDER_PLACED)

    assert "tok_ok" not in repr(event)
    assert "tok_ok" not in str(event)
    assert "ada@example.com" not in repr(event)


def test_events_are_frozen() -> None:
    event = OrderPlaced.model_validate_json(CONTRACT_ORDER_PLACED)

    with pytest.raises(ValidationError, match="frozen"):
        event.order.payment.token = "tok_other"  # type: ignore[misc]


def test_status_changed_writes_the_contract_json_shape() -> None:
    event = OrderStatusChanged(
        event_id="order-17:3",
        occurred_at=datetime(2026, 11, 26, 12, 0, 1, 250_000, tzinfo=UTC),
        order_id=17,
        order_ref="web-000123",
        workflow_id="order-17",
        sequence=3,
        previous_status=OrderStatus.VALIDATING,
        status=OrderStatus.RESERVING_STOCK,
    )

    written = json.loads(event.model_dump_json())
    expected = json.loads(CONTRACT_STATUS_CHANGED)

    assert list(written) == list(expected)
    occurred_at = written.pop("occurred_at")
    assert datetime.fromisoformat(occurred_at) == datetime.fromisoformat(
        expected.pop("occurred_at")
    )
    assert written == expected


def test_a_status_change_becomes_the_contract_event_with_an_id_fixed_by_its_sequence() -> None:
    change = StatusChange(
        order_id=17,
        order_ref="web-000123",
        workflow_id="order-17",
        sequence=3,
        previous_status=OrderStatus.VALIDATING,
        status=OrderStatus.RESERVING_STOCK,
        occurred_at=datetime(2026, 11, 26, 12, 0, 1, 250_000, tzinfo=UTC),
    )

    event = status_event(change)

    assert event == OrderStatusChanged.model_validate_json(CONTRACT_STATUS_CHANGED)
    assert status_event(change) == event  # every copy of one status is the same event


def test_status_changed_round_trips_through_json() -> None:
    event = OrderStatusChanged.model_validate_json(CONTRACT_STATUS_CHANGED)

    assert OrderStatusChanged.model_validate_json(event.model_dump_json()) == event
    assert event.previous_status is OrderStatus.VALIDATING
    assert event.reason is None


def test_first_status_has_no_previous_status() -> None:
    document = with_value(json.loads(CONTRACT_STATUS_CHANGED), "previous_status", None)
    document = with_value(document, "status", "PENDING")

    event = OrderStatusChanged.model_validate_json(json.dumps(document))

    assert (event.previous_status, event.status) == (None, OrderStatus.PENDING)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("sequence", 0, id="sequence-0"),
        pytest.param("status", "SHIPPED", id="unknown-status"),
        pytest.param("occurred_at", "2026-11-26T12:00:01", id="naive-time"),
    ],
)
def test_invalid_status_changed_is_refused(path: str, value: object) -> None:
    document = with_value(json.loads(CONTRACT_STATUS_CHANGED), path, value)

    with pytest.raises(ValidationError):
        OrderStatusChanged.model_validate_json(json.dumps(document))


def fingerprint_of(document: dict[str, Any]) -> str:
    return order_content_fingerprint(OrderDetails.model_validate_json(json.dumps(document)))


def test_fingerprint_ignores_key_order_whitespace_and_envelope() -> None:
    original = OrderPlaced.model_validate_json(CONTRACT_ORDER_PLACED)
    document = placed_document()
    reordered = {key: document[key] for key in reversed(list(document))}
    reordered["order"] = {key: document["order"][key] for key in sorted(document["order"])}
    reordered["event_id"] = "another-delivery"
    reordered["occurred_at"] = "2026-11-27T08:00:00+01:00"
    compact = json.dumps(reordered, separators=(",", ":"))

    redelivered = OrderPlaced.model_validate_json(compact)

    assert order_content_fingerprint(redelivered.order) == order_content_fingerprint(original.order)


def test_fingerprint_treats_equal_amounts_as_equal() -> None:
    document = placed_document()["order"]

    assert fingerprint_of(with_value(document, "items.1.unit_price", "5")) == fingerprint_of(
        document
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("order_ref", "web-000124", id="order-ref"),
        pytest.param("customer_id", 43, id="customer-id"),
        pytest.param("customer_email", "grace@example.com", id="customer-email"),
        pytest.param("currency", "EUR", id="currency"),
        pytest.param("items.0.product_id", 2, id="product"),
        pytest.param("items.0.quantity", 3, id="quantity"),
        pytest.param("items.0.unit_price", "19.98", id="unit-price"),
        pytest.param("items", [{"product_id": 1, "quantity": 2, "unit_price": "19.99"}], id="item"),
        pytest.param("total_amount", "44.99", id="total-amount"),
        pytest.param("payment.method", "wallet", id="payment-method"),
        pytest.param("payment.token", "tok_decline", id="payment-token"),
    ],
)
def test_fingerprint_changes_with_any_content_change(path: str, value: object) -> None:
    document = placed_document()["order"]

    assert fingerprint_of(with_value(document, path, value)) != fingerprint_of(document)


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    fingerprint = fingerprint_of(placed_document()["order"])

    assert len(fingerprint) == 64
    assert set(fingerprint) <= set("0123456789abcdef")
