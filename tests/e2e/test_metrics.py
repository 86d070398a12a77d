"""What an operator scrapes: the processes' own metrics, the Temporal SDK's, health and readiness,
and what a process does when its metrics port is taken."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

from prometheus_client.parser import text_string_to_metric_families

from schemas.steps import ADVANCE_ORDER_STEP
from tests.support.harness import order_placed
from tests.support.pipeline import Pipeline
from tests.support.services import PROJECT_ROOT

LOCALHOST = "127.0.0.1"
CONSUMER_DEFAULT_PORT, CONSUMER_DEFAULT_SDK_PORT = 8001, 9001
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
LABEL_NAME = re.compile(r'(\w+)="')
# The SDK's series the Grafana dashboard reads, with their labels.
DASHBOARD_SDK_SERIES = PROJECT_ROOT / "tests" / "data" / "temporal-sdk-series.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# The steps of the test's four orders (two completed, one declined, one short of stock), one
# attempt each: the short one ends at its reservation, the declined one at its payment, both
# FAILED within the steps' one activity.
STEP_ATTEMPTS = {(ADVANCE_ORDER_STEP, "completed"): 4}


def free_ports(count: int) -> list[int]:
    """Free ports below the ephemeral range, where no outgoing connection takes them meanwhile."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


@contextlib.contextmanager
def listening(port: int) -> Iterator[None]:
    """Hold the port as another process would; if one already does, it is just as taken."""
    with socket.socket() as holder:
        try:
            holder.bind(("0.0.0.0", port))
            holder.listen()
        except OSError:
            pass
        yield


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(f"http://{LOCALHOST}:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


async def get(port: int, path: str) -> tuple[int, bytes]:
    return await asyncio.to_thread(_get, port, path)


def parse(page: bytes) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page.decode())
        for sample in family.samples
    }


def series_labels(page: bytes) -> dict[str, set[str]]:
    """Each series name on the page as written (the parser would add `_total` to the SDK's
    counters), with the label names it carries."""
    labels: dict[str, set[str]] = {}
    for line in page.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            names = LABEL_NAME.findall(rest.partition("}")[0]) if rest else []
            labels.setdefault(name.split(" ")[0], set()).update(names)
    return labels


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def activity_attempts(samples: Samples) -> dict[tuple[str, str], float]:
    """The worker's timed activity attempts, by activity and outcome, where there were any."""
    return {
        (dict(labels)["activity"], dict(labels)["outcome"]): count
        for (name, labels), count in samples.items()
        if name == "ordering_activity_duration_seconds_count" and count
    }


def dead_lettered(samples: Samples, reason: str) -> float:
    return value(
        samples, "ordering_messages_consumed_total", outcome="dead_lettered", reason=reason
    )


async def workflow_started(pipeline: Pipeline, ref: str) -> bool:
    row = await pipeline.order_row(ref)
    return row is not None and row["temporal_workflow_id"] is not None


async def scrape_until(port: int, done: Callable[[Samples], bool], within: float = 20) -> Samples:
    """The page once it shows what `done` waits for (a counter is raised a moment after the
    effect the test saw), or as it is when time is up."""
    samples: Samples = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while True:
                status, page = await get(port, "/metrics")
                assert status == 200
                samples = parse(page)
                if done(samples):
                    break
                await asyncio.sleep(0.2)
    return samples


async def test_metrics_count_each_message_and_order_and_both_processes_are_ready(
    pipeline: Pipeline,
) -> None:
    consumer_port, consumer_sdk_port, worker_port, worker_sdk_port = free_ports(4)
    pipeline.processes.start(
        "worker", METRICS_PORT=str(worker_port), TEMPORAL_METRICS_PORT=str(worker_sdk_port)
    )
    pipeline.processes.start(
        "consumer", METRICS_PORT=str(consumer_port), TEMPORAL_METRICS_PORT=str(consumer_sdk_port)
    )
    orders = {
        "e2e-metrics-ok-1": order_placed("e2e-metrics-ok-1", [(1, 1, "19.99")]),
        "e2e-metrics-ok-2": order_placed("e2e-metrics-ok-2", [(2, 2, "5.00")]),
        "e2e-metrics-declined": order_placed(
            "e2e-metrics-declined", [(1, 1, "19.99")], token="tok_decline"
        ),
        "e2e-metrics-short": order_placed("e2e-metrics-short", [(7, 11, "49.00")]),
    }
    for event in orders.values():
        await pipeline.publish.event(event)
    await pipeline.publish.raw(b"{not json", b"e2e-metrics-poison")

    finals = await pipeline.statuses.wait_final(list(orders))
    assert len(await pipeline.dead_letters(expected=1)) == 1
    consumer = await scrape_until(consumer_port, lambda s: dead_lettered(s, "not_json") == 1)
    # A step counts its order finished before its own attempt is timed: wait for both.
    worker = await scrape_until(
        worker_port,
        lambda s: (
            sum(v for (n, _), v in s.items() if n == "ordering_orders_finished_total") == 4
            and activity_attempts(s) == STEP_ATTEMPTS
        ),
    )

    assert finals == {
        "e2e-metrics-ok-1": "COMPLETED",
        "e2e-metrics-ok-2": "COMPLETED",
        "e2e-metrics-declined": "FAILED",
        "e2e-metrics-short": "FAILED",
    }
    # The consumer: what became of each message, and the workflows it started.
    consumed = {
        (dict(labels)["outcome"], dict(labels)["reason"]): count
        for (name, labels), count in consumer.items()
        if name == "ordering_messages_consumed_total"
    }
    assert consumed == {
        ("started", ""): 4,
        ("duplicate", ""): 0,
        ("cancel_signalled", ""): 0,
        ("cancel_ignored", ""): 0,
        ("dead_lettered", "not_json"): 1,
    }
    assert value(consumer, "ordering_workflows_started_total") == 4
    assert value(consumer, "ordering_order_start_delay_seconds_count") == 4
    assert value(consumer, "ordering_consumer_batch_records_sum") == 5  # every record, once
    lags = {
        dict(labels)["partition"]: lag
        for (name, labels), lag in consumer.items()
        if name == "ordering_consumer_lag" and dict(labels)["topic"] == pipeline.topics.orders
    }
    assert lags, "a lag per partition the orders came from"
    assert set(lags.values()) == {0}
    assert {dict(labels)["dependency"] for (name, labels) in consumer if "retries" in name} == {
        "mysql",
        "temporal",
        "kafka",
        "other",
    }
    # The worker: orders by terminal status and reason code, and its activities' latency.
    finished = {
        (dict(labels)["status"], dict(labels)["reason"]): count
        for (name, labels), count in worker.items()
        if name == "ordering_orders_finished_total"
    }
    assert finished == {
        ("COMPLETED", ""): 2,
        ("FAILED", "payment_declined"): 1,
        ("FAILED", "insufficient_stock"): 1,
    }
    # Each order's steps, by the local activities' names; a business failure is a step's
    # result (the order ends FAILED in its transaction), not a failed attempt.
    assert activity_attempts(worker) == STEP_ATTEMPTS
    # The Temporal SDK's own metrics, on their own ports: the worker's include every series the
    # dashboard reads, with the labels it reads them by.
    status, page = await get(consumer_sdk_port, "/metrics")
    assert status == 200
    assert "temporal_request" in series_labels(page)
    status, page = await get(worker_sdk_port, "/metrics")
    assert status == 200
    served = series_labels(page)
    charted = json.loads(DASHBOARD_SDK_SERIES.read_text(encoding="utf-8"))["series"]
    assert {name: set(labels) - served.get(name, set()) for name, labels in charted.items()} == {
        name: set() for name in charted
    }
    # Health and readiness, with every service up.
    for port in (consumer_port, worker_port):
        assert await get(port, "/healthz") == (200, b'{"status": "alive"}\n')
        status, body = await get(port, "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})


async def test_a_taken_metrics_port_set_on_purpose_stops_the_process_with_exit_code_1(
    pipeline: Pipeline,
) -> None:
    (taken,) = free_ports(1)

    with listening(taken):
        pipeline.processes.start("consumer", METRICS_PORT=str(taken), TEMPORAL_METRICS_PORT="0")
        pipeline.processes.start("worker", METRICS_PORT="0", TEMPORAL_METRICS_PORT=str(taken))
        codes = [
            await asyncio.to_thread(pipeline.processes.running[name].wait, 60)
            for name in ("consumer", "worker")
        ]

    assert codes == [1, 1]
    assert f"METRICS_PORT={taken} cannot be served" in pipeline.processes.log("consumer")
    assert f"TEMPORAL_METRICS_PORT={taken} cannot be served" in pipeline.processes.log("worker")


async def test_a_taken_default_metrics_port_leaves_the_consumer_consuming(
    pipeline: Pipeline,
) -> None:
    with listening(CONSUMER_DEFAULT_PORT), listening(CONSUMER_DEFAULT_SDK_PORT):
        pipeline.processes.start("consumer")  # METRICS_PORT and TEMPORAL_METRICS_PORT unset
        await pipeline.publish.event(order_placed("e2e-metrics-default", [(1, 1, "19.99")]))
        async with asyncio.timeout(60):
            while True:
                if await workflow_started(pipeline, "e2e-metrics-default"):
                    break
                await asyncio.sleep(0.2)

    log = pipeline.processes.log("consumer")
    assert f"default METRICS_PORT={CONSUMER_DEFAULT_PORT} cannot be served" in log
    assert f"default TEMPORAL_METRICS_PORT={CONSUMER_DEFAULT_SDK_PORT} cannot be served" in log
    assert pipeline.processes.terminate("consumer") == 0
