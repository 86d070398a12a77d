"""Tracing: an order's Kafka message, its workflow, its activities and its status events are one
OpenTelemetry trace, exported over OTLP/HTTP, when `TRACING_ENABLED=true`.

The collector here is a real OTLP/HTTP endpoint in the test (protobuf `ExportTraceServiceRequest`
bodies on `/v1/traces`), so what is asserted is what Jaeger or any OTLP backend would receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from schemas.steps import ADVANCE_ORDER_STEP
from schemas.workflow_io import WORKFLOW_TYPE
from tests.e2e.test_metrics import free_ports
from tests.support.harness import order_placed
from tests.support.pipeline import Pipeline

LOCALHOST = "127.0.0.1"
# The span of a happy order's steps: one local activity, run by the worker, whose
# transactions enter every status of the order with its event.
STEP_SPANS = {ADVANCE_ORDER_STEP: f"RunActivity:{ADVANCE_ORDER_STEP}"}
STEP_OF = dict.fromkeys(
    ("PENDING", "VALIDATING", "RESERVING_STOCK", "PROCESSING_PAYMENT", "CONFIRMED", "COMPLETED"),
    ADVANCE_ORDER_STEP,
)


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str


class Collector:
    """Spans received on `/v1/traces`, as an OTLP/HTTP collector receives them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.spans: list[ExportedSpan] = []
        self.arrived = asyncio.Event()  # set, on the test's loop, when spans arrive
        self._lock = threading.Lock()
        self._loop = loop

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = [
            ExportedSpan(
                service=_service_name(resource_spans.resource.attributes),
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self.spans += received
        self._loop.call_soon_threadsafe(self.arrived.set)

    def of_trace(self, trace_id: str) -> list[ExportedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]


def _service_name(attributes: Any) -> str:
    names = [a.value.string_value for a in attributes if a.key == "service.name"]
    return names[0] if names else "?"


@contextlib.contextmanager
def collecting(port: int, loop: asyncio.AbstractEventLoop) -> Iterator[Collector]:
    collector = Collector(loop)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/v1/traces":
                collector.receive(body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOCALHOST, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture(loop_scope="session")
async def collector(pipeline: Pipeline) -> AsyncIterator[Collector]:
    """An OTLP collector, and the worker and consumer exporting their spans to it."""
    (port,) = free_ports(1)
    with collecting(port, asyncio.get_running_loop()) as collector:
        tracing = {
            "TRACING_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{LOCALHOST}:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds between exports
        }
        pipeline.processes.start("worker", **tracing)
        pipeline.processes.start("consumer", **tracing)
        yield collector


def traceparent(trace_id: str, span_id: str) -> list[tuple[str, bytes]]:
    return [("traceparent", f"00-{trace_id}-{span_id}-01".encode())]


def trace_id_of(headers: list[tuple[str, bytes]]) -> str | None:
    values = [value.decode() for name, value in headers if name == "traceparent"]
    return values[-1].split("-")[1] if values else None


def span_id_of(headers: list[tuple[str, bytes]]) -> str | None:
    values = [value.decode() for name, value in headers if name == "traceparent"]
    return values[-1].split("-")[2] if values else None


def ancestors(span: ExportedSpan, by_id: dict[str, ExportedSpan]) -> list[str]:
    """The span ids above `span`, nearest first, up to the first parent outside the trace."""
    found: list[str] = []
    parent = span.parent_span_id
    while parent and parent not in found:
        found.append(parent)
        if parent not in by_id:
            break
        parent = by_id[parent].parent_span_id
    return found


async def headers_by_key(pipeline: Pipeline, topic: str, key: str, count: int) -> list[Any]:
    """The headers of the first `count` records of `topic` with the key, read from the start."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=pipeline.endpoints.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=500)
                records = [r for part in batch.values() for r in part]
                found += [list(r.headers) for r in records if r.key == key.encode()]
    finally:
        await consumer.stop()
    return found


async def spans_until(
    collector: Collector, trace_id: str, done: Callable[[list[ExportedSpan]], bool]
) -> list[ExportedSpan]:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while True:
                collector.arrived.clear()
                if done(collector.of_trace(trace_id)):
                    break
                await collector.arrived.wait()
    return collector.of_trace(trace_id)


async def test_an_order_is_one_trace_from_its_message_to_its_status_events(
    pipeline: Pipeline, collector: Collector
) -> None:
    ref = "e2e-traced-1"
    trace_id, upstream_span = secrets.token_hex(16), secrets.token_hex(8)
    await pipeline.publish.event(
        order_placed(ref, [(1, 1, "19.99")]), headers=traceparent(trace_id, upstream_span)
    )

    assert (await pipeline.statuses.wait_final([ref]))[ref] == "COMPLETED"
    statuses = pipeline.statuses.statuses(ref)
    headers = await headers_by_key(pipeline, pipeline.topics.status, ref, len(statuses))
    assert [trace_id_of(h) for h in headers] == [trace_id] * len(statuses)

    def whole(spans: list[ExportedSpan]) -> bool:
        # Each process exports its spans in its own batches: wait for both processes' spans.
        names = {span.name for span in spans}
        consumer = {f"process {pipeline.topics.orders}", f"StartWorkflow:{WORKFLOW_TYPE}"}
        return {f"RunWorkflow:{WORKFLOW_TYPE}", *STEP_SPANS.values(), *consumer} <= names

    spans = await spans_until(collector, trace_id, whole)
    by_name = {span.name: span for span in spans}
    by_id = {span.span_id: span for span in spans}
    consumed = by_name[f"process {pipeline.topics.orders}"]
    assert (consumed.service, consumed.parent_span_id) == ("ordering-consumer", upstream_span)
    started = by_name[f"StartWorkflow:{WORKFLOW_TYPE}"]
    assert (started.service, started.parent_span_id) == ("ordering-consumer", consumed.span_id)
    ran = by_name[f"RunWorkflow:{WORKFLOW_TYPE}"]
    assert (ran.service, ran.parent_span_id) == ("ordering-worker", started.span_id)
    # Each step, a local activity, is started by the workflow and run beside it, in the trace.
    for step, name in STEP_SPANS.items():
        run = by_name[name]
        assert (run.service, by_id[run.parent_span_id].name) == (
            "ordering-worker",
            f"StartActivity:{step}",
        )
        assert upstream_span in ancestors(run, by_id)
    # Each status event carries the span of the step that entered its status.
    assert [span_id_of(h) for h in headers] == [
        by_name[STEP_SPANS[STEP_OF[status]]].span_id for status in statuses
    ]


async def test_an_untraced_order_gets_a_trace_of_its_own_and_a_dead_letter_keeps_its_trace(
    pipeline: Pipeline, collector: Collector
) -> None:
    ref = "e2e-traced-2"
    await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")]))
    poison_trace = secrets.token_hex(16)
    await pipeline.publish.raw(
        b"{not json", b"e2e-traced-poison", traceparent(poison_trace, secrets.token_hex(8))
    )

    assert (await pipeline.statuses.wait_final([ref]))[ref] == "COMPLETED"
    statuses = pipeline.statuses.statuses(ref)
    headers = await headers_by_key(pipeline, pipeline.topics.status, ref, len(statuses))
    trace_ids = {trace_id_of(h) for h in headers}
    assert len(trace_ids) == 1
    assert None not in trace_ids
    (dead,) = await pipeline.dead_letters(expected=1)
    assert trace_id_of(list(dead.headers)) == poison_trace
    spans = await spans_until(collector, poison_trace, bool)
    assert [(s.service, s.name) for s in spans] == [
        ("ordering-consumer", f"process {pipeline.topics.orders}")
    ]
