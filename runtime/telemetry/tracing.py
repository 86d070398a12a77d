"""Tracing with OpenTelemetry: from an order's Kafka message through its workflow and
activities to every status event it causes, one trace.

The processes speak to the OpenTelemetry API only. With `TRACING_ENABLED=false`, the default,
no SDK is set up and every span is a no-op costing next to nothing. Enabled, the `tracing`
extra's SDK records spans and exports them (`OTEL_TRACES_EXPORTER`: `otlp` over HTTP to
`OTEL_EXPORTER_OTLP_ENDPOINT`, `console`, or `none`), and temporalio's `TracingInterceptor`
carries the context through Temporal: the consumer's workflow start, the workflow's run and
each activity's execution become spans of the trace the message's `traceparent` header began.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from pydantic_settings import BaseSettings

log = logging.getLogger(__name__)

TRACER = trace.get_tracer("ordering-system")
EXTRA_HINT = "pip install 'ordering-system[tracing]'"


class TracingSettings(BaseSettings):
    """What every traced process reads; the exporter's own variables (`OTEL_EXPORTER_OTLP_*`,
    `OTEL_BSP_*`) are read by the OpenTelemetry SDK itself."""

    tracing_enabled: bool = False
    otel_traces_exporter: Literal["otlp", "console", "none"] = "otlp"
    otel_service_name: str | None = None  # None: the process's own name


class TracingUnavailableError(RuntimeError):
    """Tracing is enabled but the `tracing` extra is not installed."""


@dataclass
class Tracing:
    """The interceptors a Temporal client needs to carry traces, and the provider to flush."""

    interceptors: Sequence[Any] = ()
    _provider: Any = field(default=None, repr=False)

    async def close(self) -> None:
        """Export what is still buffered; the SDK's shutdown blocks, so off the event loop."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)


def start_tracing(settings: TracingSettings, process: str) -> Tracing:
    """Install the SDK's tracer provider when tracing is enabled; a no-op `Tracing` if not."""
    if not settings.tracing_enabled:
        return Tracing()
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as error:
        raise TracingUnavailableError(
            f"TRACING_ENABLED=true needs the tracing extra ({EXTRA_HINT}): {error}"
        ) from error
    service = settings.otel_service_name or f"ordering-{process}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if settings.otel_traces_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif settings.otel_traces_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing on: service %s, exporter %s", service, settings.otel_traces_exporter)
    return Tracing(interceptors=(TracingInterceptor(),), _provider=provider)


@contextmanager
def consuming(record: Any) -> Iterator[Span]:
    """A consumer span for one Kafka record, continuing the trace of its `traceparent` header
    (a new trace when it has none). A failure that escapes it is recorded on the span."""
    carrier = {name: value.decode("latin-1") for name, value in record.headers or ()}
    with TRACER.start_as_current_span(
        f"process {record.topic}",
        context=propagate.extract(carrier),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    ) as span:
        yield span


def trace_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers (`traceparent`, `tracestate`); none when no
    span is recording, so untraced processes publish exactly what they did before."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]


def mark_failed(span: Span, reason: str) -> None:
    """Say on the span why its work failed, for a trace view's red marks."""
    span.set_status(Status(StatusCode.ERROR, reason))
