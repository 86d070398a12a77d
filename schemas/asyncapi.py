"""The AsyncAPI 3 document of the three topics, generated from the wire models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.events import OrderCancellationRequested, OrderPlaced, OrderStatusChanged
from schemas.topics import (
    DEAD_LETTER_HEADERS,
    DLQ_TOPIC,
    OPTIONAL_DEAD_LETTER_HEADERS,
    ORDERS_TOPIC,
    STATUS_TOPIC,
    TRACE_CONTEXT_HEADERS,
)

ASYNCAPI_VERSION = "3.0.0"
_KEY = {"type": "string", "description": "the order's order_ref, UTF-8"}


def _headers(described: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in described.items()
        },
        "required": required,
    }


def _message(model: type[BaseModel], summary: str) -> dict[str, Any]:
    name = model.__name__
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "headers": _headers(TRACE_CONTEXT_HEADERS, required=[]),
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {"kafka": {"key": _KEY}},
    }


def _dead_letter() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "An input message that cannot be an order: its original key and bytes, "
        "untouched, with headers that say why (the bytes left out only when too large to copy).",
        "contentType": "application/octet-stream",
        "headers": _headers(
            {**DEAD_LETTER_HEADERS, **OPTIONAL_DEAD_LETTER_HEADERS, **TRACE_CONTEXT_HEADERS},
            required=sorted(DEAD_LETTER_HEADERS),
        ),
        "payload": {"description": "the original message bytes; empty with dlq.value_omitted"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original key"}}},
    }


def _channel(address: str, messages: list[str], description: str) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {"kafka": {"partitions": 3}},
    }


def _operation(action: str, channel: str) -> dict[str, Any]:
    return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}}


def asyncapi_document(version: str) -> dict[str, Any]:
    """The document for `version` of the system, with the topics' default names."""
    _, definitions = models_json_schema(
        [
            (m, "serialization")
            for m in (OrderPlaced, OrderCancellationRequested, OrderStatusChanged)
        ],
        ref_template="#/components/schemas/{model}",
    )
    channels = {
        "orderEvents": _channel(
            ORDERS_TOPIC,
            ["OrderPlaced", "OrderCancellationRequested"],
            "Orders and cancellations from upstream, keyed by order_ref.",
        ),
        "orderStatus": _channel(
            STATUS_TOPIC,
            ["OrderStatusChanged"],
            "One event per status an order enters, in order per order_ref; repeats carry the "
            "same event_id. Sent from MySQL's transactional outbox (table status_outbox) by the "
            "worker's relay, an idempotent producer with acks=all, or by Debezium's outbox event "
            "router where a deployment runs it instead: at least once, never ahead of MySQL.",
        ),
        "deadLetters": _channel(DLQ_TOPIC, ["DeadLetter"], "Input messages that cannot be orders."),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Ordering system",
            "version": version,
            "description": "Kafka-fed, Temporal-orchestrated order processing. Topic names are "
            "the defaults; each is configurable.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {
            "receiveOrderEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/orderEvents"},
            },
            "sendOrderStatus": {"action": "send", "channel": {"$ref": "#/channels/orderStatus"}},
            "sendDeadLetters": {"action": "send", "channel": {"$ref": "#/channels/deadLetters"}},
        },
        "components": {
            "schemas": definitions["$defs"],
            "messages": {
                "OrderPlaced": _message(OrderPlaced, "An order placed upstream."),
                "OrderCancellationRequested": _message(
                    OrderCancellationRequested, "A request to cancel an order."
                ),
                "OrderStatusChanged": _message(OrderStatusChanged, "A status the order entered."),
                "DeadLetter": _dead_letter(),
            },
        },
    }
