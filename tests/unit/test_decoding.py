"""Decoding Kafka records: every bad input is refused with its own reason, and no input leaks."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from consumer.decoding import decode_event
from consumer.errors import MAX_MESSAGE_LENGTH, EventRejected
from schemas.events import OrderCancellationRequested, OrderPlaced
from tests.support.examples import contract_order_placed

KEY = b"web-000123"
# Planted in every event so each rejection can be checked for leaking them.
EMAIL = "ada.lovelace@example.com"
TOKEN = "tok_secret_4242"
SENSITIVE = (EMAIL, TOKEN, "ada.lovelace", "4242")


def placed() -> dict[str, Any]:
    return contract_order_placed(email=EMAIL, token=TOKEN)


def cancellation() -> dict[str, Any]:
    return {
        "event_id": "9d0c4e1a",
        "event_type": "OrderCancellationRequested",
        "schema_version": 1,
        "occurred_at": "2026-11-26T12:05:00Z",
        "order_ref": "web-000123",
        "reason": "customer changed mind",
    }


def encoded(document: object) -> bytes:
    return json.dumps(document).encode()


def placed_with(path: str, value: object) -> bytes:
    """The OrderPlaced example with the dotted `path` set to `value`, as bytes."""
    document = placed()
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return encoded(document)


def placed_without(path: str) -> bytes:
    document = placed()
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[part]
    del target[last]
    return encoded(document)


def placed_text_with(old: str, new: str) -> bytes:
    """The example's JSON text with one fragment replaced, for what json.dumps cannot write."""
    text = json.dumps(placed())
    assert old in text
    return text.replace(old, new, 1).encode()


def nested(depth: int) -> Any:
    document: Any = {"leaf": True}
    for _ in range(depth):
        document = {"next": document}
    return document


DEEP_ARRAYS = b"[" * 5000 + b"]" * 5000
DEEP_OBJECTS = b'{"a":' * 5000 + b"1" + b"}" * 5000
ITEM = {"product_id": 1, "quantity": 1, "unit_price": "1.00"}
BAD_INPUTS = [
    pytest.param(KEY, b"x" * 65_537, "too_large", id="over-64-kib"),
    pytest.param(KEY, b"\xff" * 70_000, "too_large", id="size-checked-before-utf8"),
    pytest.param(KEY, placed_with("pad", "p" * 70_000), "too_large", id="valid-but-over-size"),
    pytest.param(KEY, b"", "empty", id="zero-bytes"),
    pytest.param(KEY, None, "empty", id="tombstone"),
    pytest.param(KEY, b" \r\n\t", "empty", id="whitespace-only"),
    pytest.param(KEY, b"\xff\xfe{}", "not_utf8", id="not-utf8"),
    pytest.param(KEY, placed_with("pad", "caf\xe9").replace(b"\\u00e9", b"\xe9"), "not_utf8",
                 id="latin1-byte-inside-json"),
    pytest.param(KEY, b"\xc3\x28", "not_utf8", id="broken-multibyte-sequence"),
    pytest.param(KEY, encoded(placed())[:-20], "not_json", id="truncated"),
    pytest.param(KEY, b"{'event_type': 'OrderPlaced'}", "not_json", id="single-quotes"),
    pytest.param(KEY, encoded(placed()) + b" trailing", "not_json", id="trailing-garbage"),
    pytest.param(KEY, "\ufeff".encode() + encoded(placed()), "not_json", id="byte-order-mark"),
    pytest.param(KEY, b'{"event_type": "OrderPlaced",}', "not_json", id="trailing-comma"),
    pytest.param(KEY, placed_text_with('"card"', '"\\ud800"'), "not_json", id="lone-surrogate"),
    pytest.param(KEY, b"[" * 40, "not_json", id="truncated-before-too-deep"),
    pytest.param(KEY, placed_text_with('"schema_version"', '"event_type": "OrderPlaced", '
                                       '"schema_version"'), "duplicate_key", id="duplicate-top"),
    pytest.param(KEY, placed_text_with('"customer_id"', '"order_ref": "web-9", "customer_id"'),
                 "duplicate_key", id="duplicate-nested"),
    pytest.param(KEY, placed_text_with('"quantity": 2', '"quantity": 2, "quantity": 0'),
                 "duplicate_key", id="duplicate-in-item"),
    pytest.param(KEY, placed_text_with('"44.98"', "NaN"), "invalid_number", id="nan"),
    pytest.param(KEY, placed_text_with('"44.98"', "Infinity"), "invalid_number", id="infinity"),
    pytest.param(KEY, placed_text_with('"44.98"', "-Infinity"), "invalid_number", id="-infinity"),
    pytest.param(KEY, placed_text_with('"44.98"', "1e309"), "invalid_number", id="1e309"),
    pytest.param(KEY, placed_text_with("42", "9" * 5000), "invalid_number", id="5000-digit-int"),
    pytest.param(KEY, placed_text_with('"44.98"', "NaN, \"total_amount\": 1"), "duplicate_key",
                 id="duplicate-reported-before-nan"),
    pytest.param(KEY, DEEP_ARRAYS, "too_deep", id="5000-deep-arrays"),
    pytest.param(KEY, DEEP_OBJECTS, "too_deep", id="5000-deep-objects"),
    pytest.param(KEY, placed_with("extra", nested(40)), "too_deep", id="40-deep-extra-field"),
    pytest.param(KEY, encoded([placed()]), "not_an_object", id="array"),
    pytest.param(KEY, b'"OrderPlaced"', "not_an_object", id="string"),
    pytest.param(KEY, b"42", "not_an_object", id="number"),
    pytest.param(KEY, b"null", "not_an_object", id="null"),
    pytest.param(KEY, placed_with("event_type", "OrderShipped"), "unknown_event_type",
                 id="unknown-event-type"),
    pytest.param(KEY, placed_with("event_type", "orderplaced"), "unknown_event_type",
                 id="event-type-wrong-case"),
    pytest.param(KEY, placed_with("event_type", 1), "unknown_event_type", id="event-type-number"),
    pytest.param(KEY, placed_without("event_type"), "unknown_event_type", id="no-event-type"),
    pytest.param(KEY, placed_with("schema_version", 2), "unsupported_schema_version",
                 id="schema-version-2"),
    pytest.param(KEY, placed_with("schema_version", 0), "unsupported_schema_version",
                 id="schema-version-0"),
    pytest.param(KEY, placed_with("schema_version", "1"), "schema_violation",
                 id="schema-version-string"),
    pytest.param(KEY, placed_without("schema_version"), "schema_violation", id="no-version"),
    pytest.param(KEY, placed_without("order"), "schema_violation", id="no-order"),
    pytest.param(KEY, placed_without("order.items"), "schema_violation", id="no-items"),
    pytest.param(KEY, placed_without("event_id"), "schema_violation", id="no-event-id"),
    pytest.param(KEY, placed_with("order.customer_id", "42"), "schema_violation",
                 id="customer-id-string"),
    pytest.param(KEY, placed_with("order.items", ITEM), "schema_violation", id="items-object"),
    pytest.param(KEY, placed_with("order.items.0.quantity", 0), "schema_violation", id="qty-0"),
    pytest.param(KEY, placed_with("order.items.0.quantity", -3), "schema_violation",
                 id="qty-negative"),
    pytest.param(KEY, placed_with("order.items.0.quantity", 1.5), "schema_violation",
                 id="qty-fraction"),
    pytest.param(KEY, placed_with("order.items.0.quantity", "2"), "schema_violation",
                 id="qty-string"),
    pytest.param(KEY, placed_with("order.items.0.product_id", 2**63), "schema_violation",
                 id="product-id-over-bigint"),
    pytest.param(KEY, placed_text_with('"19.99"', "19.99"), "schema_violation", id="float-money"),
    pytest.param(KEY, placed_text_with('"44.98"', "45"), "schema_violation", id="integer-money"),
    pytest.param(KEY, placed_with("order.items.0.unit_price", "19.999"), "schema_violation",
                 id="three-decimal-price"),
    pytest.param(KEY, placed_with("order.items.0.unit_price", "-1.00"), "schema_violation",
                 id="negative-price"),
    pytest.param(KEY, placed_with("order.total_amount", "1e3"), "schema_violation",
                 id="exponent-money"),
    pytest.param(KEY, placed_with("order.total_amount", "123456789.00"), "schema_violation",
                 id="money-over-decimal-10-2"),
    pytest.param(KEY, placed_with("order.order_ref", "web-000\u0430123"),
                 "schema_violation", id="cyrillic-a-in-order-ref"),
    pytest.param(KEY, placed_with("order.order_ref", "web-000\u200b123"), "schema_violation",
                 id="zero-width-space-in-order-ref"),
    pytest.param(KEY, placed_with("order.order_ref", "w" * 65), "schema_violation",
                 id="order-ref-over-64"),
    pytest.param(KEY, placed_with("event_id", "e" * 129), "schema_violation", id="event-id-long"),
    pytest.param(KEY, placed_with("order.payment.token", "t" * 129), "schema_violation",
                 id="token-over-128"),
    pytest.param(KEY, placed_with("order.customer_email", "not-an-email"), "schema_violation",
                 id="bad-email"),
    pytest.param(KEY, placed_with("order.currency", "usd"), "schema_violation",
                 id="currency-lowercase"),
    pytest.param(KEY, placed_with("order.currency", "US$"), "schema_violation",
                 id="currency-symbol"),
    pytest.param(KEY, placed_with("order.items", []), "schema_violation", id="zero-items"),
    pytest.param(KEY, placed_with("order.items", [ITEM] * 101), "schema_violation",
                 id="101-items"),
    pytest.param(KEY, placed_with("occurred_at", "2026-11-26T12:00:00"), "schema_violation",
                 id="naive-occurred-at"),
    pytest.param(KEY, placed_with("occurred_at", "yesterday"), "schema_violation",
                 id="occurred-at-not-a-time"),
    pytest.param(KEY, placed_with("occurred_at", "9999-12-31T23:00:00-05:00"),
                 "schema_violation", id="occurred-at-past-year-9999-in-utc"),
    pytest.param(KEY, placed_with("occurred_at", "0001-01-01T00:30:00+01:00"),
                 "schema_violation", id="occurred-at-before-year-1-in-utc"),
    pytest.param(KEY, encoded({**cancellation(), "occurred_at": "0999-12-31T23:59:59Z"}),
                 "schema_violation", id="cancellation-occurred-at-before-year-1000"),
    pytest.param(KEY, encoded({**cancellation(), "reason": "r" * 501}), "schema_violation",
                 id="cancellation-reason-over-500"),
    pytest.param(KEY, encoded({**cancellation(), "order_ref": None}), "schema_violation",
                 id="cancellation-null-order-ref"),
    pytest.param(b"web-000999", encoded(placed()), "key_mismatch", id="wrong-key"),
    pytest.param(None, encoded(placed()), "key_mismatch", id="missing-key"),
    pytest.param(b"WEB-000123", encoded(placed()), "key_mismatch", id="key-differs-in-case"),
    pytest.param(b"", encoded(placed()), "key_mismatch", id="empty-key"),
    pytest.param(b"web-000999", encoded(cancellation()), "key_mismatch",
                 id="cancellation-wrong-key"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value", "reason"), BAD_INPUTS)
def test_bad_input_is_rejected_with_its_specific_reason(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    with pytest.raises(EventRejected) as rejected:
        decode_event(key, value)

    assert rejected.value.reason == reason
    assert rejected.value.message
    assert len(rejected.value.message) <= MAX_MESSAGE_LENGTH
    assert not [secret for secret in SENSITIVE if secret in str(rejected.value)]
    # A chained error would carry the input into any logged traceback.
    assert rejected.value.__cause__ is None
    assert rejected.value.__context__ is None


def test_ten_thousand_items_are_refused_even_under_a_generous_size_limit() -> None:
    value = placed_with("order.items", [ITEM] * 10_000)

    with pytest.raises(EventRejected) as rejected:
        decode_event(KEY, value, max_bytes=len(value))

    assert rejected.value.reason == "schema_violation"
    assert rejected.value.message == (
        "order.items: List should have at most 100 items after validation"
    )


@pytest.mark.parametrize(
    ("value", "planted"),
    [
        pytest.param(placed_with("order.items.0.unit_price", "123.456"), "123.456", id="price"),
        pytest.param(placed_with("order.items.0.unit_price", "-987.65"), "987.65", id="negative"),
        pytest.param(placed_text_with('"19.99"', "31.41"), "31.41", id="float-price"),
        pytest.param(placed_with("order.customer_email", "ada@@lovelace.example"), "lovelace",
                     id="bad-email"),
        pytest.param(placed_with("order.customer_email", "ada\u200b@example.com"), "ada",
                     id="zero-width-email"),
        pytest.param(placed_with("order.customer_email", "x" * 250 + "@secret.example"),
                     "secret", id="long-email"),
        pytest.param(placed_with("order.order_ref", "secret-r\u0435f"), "secret", id="order-ref"),
        pytest.param(placed_with("order.currency", "zzq"), "zzq", id="currency"),
        pytest.param(placed_with("order.payment.token", 424242), "424242", id="token-number"),
        pytest.param(placed_with("occurred_at", "1999-99-99T99:99:99Z"), "99", id="time"),
        pytest.param(placed_with("order.items.0.quantity", 777_777), "777777", id="quantity"),
        pytest.param(placed_with("event_type", "SecretEvent"), "SecretEvent", id="event-type"),
        pytest.param(placed_with("schema_version", 31337), "31337", id="schema-version"),
        pytest.param(placed_with("order.items", [ITEM] * 137), "137", id="item-count"),
        pytest.param(b"\xffsecret", "secret", id="not-utf8"),
        pytest.param(b'{"secret": tru', "secret", id="not-json"),
        pytest.param(b'{"secret": 1, "secret": 2}', "secret", id="duplicate-key"),
    ],
)  # fmt: skip
def test_rejection_message_never_quotes_the_input(value: bytes, planted: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        decode_event(KEY, value)

    assert planted not in str(rejected.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            placed_with("order.items.0.quantity", 0),
            "order.items.0.quantity: Input should be greater than or equal to 1",
            id="quantity",
        ),
        pytest.param(
            placed_with("order.items.1.unit_price", "5.001"),
            "order.items.1.unit_price: Money must have at most 2 decimal places",
            id="price-places",
        ),
        pytest.param(
            placed_text_with('"44.98"', "44.98"),
            'order.total_amount: Money must be a JSON string such as "19.99", not a number',
            id="float-total",
        ),
        pytest.param(
            placed_with("order.order_ref", "web-000\u0430123"),
            "order.order_ref: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'",
            id="order-ref",
        ),
        pytest.param(
            placed_with("order.customer_email", "nobody"),
            "order.customer_email: Value is not a valid email address",
            id="email",
        ),
        pytest.param(
            placed_without("order.payment"), "order.payment: Field required", id="missing"
        ),
        pytest.param(
            placed_with("occurred_at", "9999-12-31T23:00:00-05:00"),
            "occurred_at: Datetime must fall between the years 1000 and 9999 in UTC",
            id="occurred-at-out-of-range",
        ),
        pytest.param(
            placed_with("order", {}),
            "order.order_ref: Field required; order.customer_id: Field required; "
            "order.customer_email: Field required; order.currency: Field required; "
            "order.items: Field required; order.total_amount: Field required; "
            "order.payment: Field required",
            id="several-errors",
        ),
    ],
)
def test_schema_violation_message_names_each_field_and_rule(value: bytes, expected: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        decode_event(KEY, value)

    assert rejected.value.message == expected


def test_many_violations_are_summarised_within_the_header_limit() -> None:
    value = placed_with("order.items", [{**ITEM, "quantity": 0}] * 100)

    with pytest.raises(EventRejected) as rejected:
        decode_event(KEY, value)

    message = rejected.value.message
    assert len(message) <= MAX_MESSAGE_LENGTH
    assert message.startswith("order.items.0.quantity: Input should be greater than or equal to 1")
    assert message.endswith(" more")


def test_contract_order_placed_decodes() -> None:
    event = decode_event(KEY, encoded(placed()))

    assert isinstance(event, OrderPlaced)
    assert event.order_ref == "web-000123"
    assert event.order.total_amount == Decimal("44.98")
    assert event.order.payment.token == TOKEN


def test_contract_cancellation_decodes() -> None:
    event = decode_event(KEY, encoded(cancellation()))

    assert isinstance(event, OrderCancellationRequested)
    assert event.reason == "customer changed mind"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(KEY, placed_with("producer", {"name": "web", "version": "3.2"}),
                     id="extra-fields"),
        pytest.param(KEY, placed_with("order.items.0.unit_price", "19"), id="whole-money"),
        pytest.param(KEY, placed_with("occurred_at", "2026-11-26T13:00:00+01:00"), id="offset"),
        pytest.param(KEY, json.dumps(placed(), indent=4).encode(), id="pretty-printed"),
        pytest.param(KEY, placed_with("extra", nested(20)), id="20-deep-extra-field"),
        pytest.param(b"a.b:c_d-9", encoded({**cancellation(), "order_ref": "a.b:c_d-9"}),
                     id="all-order-ref-punctuation"),
        pytest.param(KEY, placed_with("order.items", [ITEM] * 100), id="100-items"),
        pytest.param(KEY, placed_with("schema_version", 1.0), id="schema-version-1.0"),
    ],
)  # fmt: skip
def test_valid_variants_decode(key: bytes, value: bytes) -> None:
    assert decode_event(key, value).order_ref == key.decode()


def test_message_exactly_at_the_size_limit_is_accepted() -> None:
    value = encoded(placed())

    assert decode_event(KEY, value, max_bytes=len(value)).order_ref == "web-000123"
    with pytest.raises(EventRejected, match="too_large"):
        decode_event(KEY, value, max_bytes=len(value) - 1)
