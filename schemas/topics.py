"""The topics' default names and the headers a dead letter carries: wire contracts."""

from __future__ import annotations

ORDERS_TOPIC = "orders.events"
STATUS_TOPIC = "orders.status"
DLQ_TOPIC = "orders.events.dlq"

HEADER_REASON = "dlq.reason"
HEADER_MESSAGE = "dlq.message"
HEADER_SOURCE_TOPIC = "dlq.source.topic"
HEADER_SOURCE_PARTITION = "dlq.source.partition"
HEADER_SOURCE_OFFSET = "dlq.source.offset"
HEADER_FAILED_AT = "dlq.failed_at"

DEAD_LETTER_HEADERS = {
    HEADER_REASON: "why: a stable reason code such as not_json, schema_violation, "
    "conflicting_duplicate, unknown_order",
    HEADER_MESSAGE: "a readable explanation that never quotes the message's own values",
    HEADER_SOURCE_TOPIC: "the topic the message was read from",
    HEADER_SOURCE_PARTITION: "its partition",
    HEADER_SOURCE_OFFSET: "its offset",
    HEADER_FAILED_AT: "when it was dead-lettered (ISO-8601, UTC)",
}
