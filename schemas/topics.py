"""The topics' default names, the headers a dead letter carries and the trace context any
message may carry: wire contracts."""

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
HEADER_VALUE_OMITTED = "dlq.value_omitted"

DEAD_LETTER_HEADERS = {
    HEADER_REASON: "why: a stable reason code such as not_json, schema_violation, "
    "conflicting_duplicate, unknown_order",
    HEADER_MESSAGE: "a readable explanation that never quotes the message's own values",
    HEADER_SOURCE_TOPIC: "the topic the message was read from",
    HEADER_SOURCE_PARTITION: "its partition",
    HEADER_SOURCE_OFFSET: "its offset",
    HEADER_FAILED_AT: "when it was dead-lettered (ISO-8601, UTC)",
}
OPTIONAL_DEAD_LETTER_HEADERS = {
    HEADER_VALUE_OMITTED: "optional: the original value's size in bytes, when it was too large "
    "to copy; the dead letter's value is then empty (read the original at its source offset)",
}

# W3C Trace Context (https://www.w3.org/TR/trace-context/) as Kafka headers. Optional on every
# topic: read from input messages, written on status events and dead letters when tracing is on.
HEADER_TRACEPARENT = "traceparent"
HEADER_TRACESTATE = "tracestate"

TRACE_CONTEXT_HEADERS = {
    HEADER_TRACEPARENT: "optional: the W3C trace context of the message, e.g. "
    "00-<32 hex trace id>-<16 hex span id>-01; status events carry the order's trace",
    HEADER_TRACESTATE: "optional: vendor trace state that goes with traceparent",
}
