"""Kafka, MariaDB and Temporal killed (kill -9) under a running pipeline: each restarted at
once, each kept down for a long outage in turn (Kafka 100 s, MariaDB 60 s, Temporal 60 s), all
with the shipped settings while orders flow, and every acknowledged order completes; a MariaDB
kill that lands mid-reservation; and the watchdog that makes a consumer stuck behind a frozen
broker exit, and does not take a consumer waiting out an outage for a stalled one.

These tests kill servers, so they run on a private stack of their own (`private_stack.py`):
`endpoints` and `temporal_client` are overridden here, and the usual `pipeline` fixture builds
its topics, database, task queue and processes on that stack.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.errors import KafkaError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from consumer.settings import ConsumerSettings
from consumer.watchdog import EXIT_STALLED
from schemas.steps import ADVANCE_ORDER_STEP
from tests.conftest import IN_CI
from tests.support.consumer_faults import wait_until
from tests.support.harness import order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline
from tests.support.private_stack import (
    SERVERS,
    PrivateStack,
    PrivateStackError,
    Server,
    private_stack,
)
from tests.support.services import Endpoints
from tests.support.worker_faults import order_history, start_faulty_worker

MUG, TEA, LAMP = (1, "19.99"), (2, "5.00"), (7, "49.00")
# The consumer's line for a record it keeps and retries (consumer/runner.py).
TRANSIENT = r"transient failure at \S+@\d+, retrying in [\d.]+s: "
# Seconds each reservation of the MariaDB test waits before touching MySQL.
RESERVATION_DELAY = 3


@pytest.fixture(scope="module")
def server_stack() -> Iterator[PrivateStack]:
    with ExitStack() as cleanup:
        try:
            stack = cleanup.enter_context(private_stack())
        except PrivateStackError as error:
            if IN_CI:
                pytest.fail(f"the private stack did not start in CI: {error}")
            pytest.skip(f"the private stack did not start: {error}")
        yield stack


@pytest.fixture(scope="module")
def endpoints(server_stack: PrivateStack) -> Endpoints:
    """The private stack's endpoints: in this module every pipeline is built on them."""
    return server_stack.endpoints


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def temporal_client(endpoints: Endpoints) -> Client:
    return await Client.connect(
        endpoints.temporal_address,
        namespace=endpoints.namespace,
        data_converter=pydantic_data_converter,
    )


@pytest.fixture
def stack(pipeline: Pipeline, server_stack: PrivateStack) -> Iterator[PrivateStack]:
    """The private stack's servers to kill; whatever a test killed or froze runs again before
    the pipeline (its topics, its database) is torn down."""
    yield server_stack
    server_stack.heal()


def line(product: tuple[int, str], quantity: int = 1) -> tuple[int, int, str]:
    return (product[0], quantity, product[1])


async def publish_acked(pipeline: Pipeline, event: dict[str, Any], within: float = 120) -> int:
    """Send until Kafka acknowledges, as a producer would; how many attempts failed first. A
    failed attempt may still land, and its repeat then is a duplicate the consumer absorbs."""
    failures = 0
    async with asyncio.timeout(within):
        while True:
            try:
                async with asyncio.timeout(5):
                    await pipeline.publish.event(event)
                return failures
            except (KafkaError, TimeoutError):
                failures += 1
                await asyncio.sleep(0.2)


class OrderStream:
    """Orders published one after another in the background, each until acknowledged, a mug
    and a tea in turn (so a long stream does not run out of either)."""

    def __init__(
        self, pipeline: Pipeline, prefix: str, pause: float = 0.25, within: float = 120
    ) -> None:
        self.pipeline, self.prefix, self.pause, self.within = pipeline, prefix, pause, within
        self.acked: list[str] = []
        self.failed_sends = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            n = len(self.acked)
            event = order_placed(f"{self.prefix}-{n}", [line((MUG, TEA)[n % 2])])
            self.failed_sends += await publish_acked(self.pipeline, event, self.within)
            self.acked.append(event["order"]["order_ref"])
            await asyncio.sleep(self.pause)  # a steady pace, not a synchronisation

    async def __aenter__(self) -> OrderStream:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task  # the order in flight is finished: every ref is acknowledged

    async def completed_after(self, mark: int, within: float = 90) -> None:
        """Wait until an order acknowledged after the first `mark` ones has finished."""
        statuses = self.pipeline.statuses
        await statuses.wait_for(lambda: any(statuses.final(r) for r in self.acked[mark:]), within)


async def exit_code(pipeline: Pipeline, name: str, within: float = 60) -> int:
    process = pipeline.processes.running[name]
    await wait_until(lambda: process.poll() is not None, within)
    del pipeline.processes.running[name]
    return process.wait()


async def wait_for_failed_attempt(pipeline: Pipeline, workflow_id: str, step: str) -> None:
    """Wait until the worker has logged an attempt of the workflow's `step` (a local activity,
    so the attempt is in no history yet) as failed: its next attempt is due."""
    failed = ("Completing activity as failed", f"'activity_type': '{step}'", workflow_id)
    await wait_until(
        lambda: any(
            all(part in line for part in failed)
            for line in pipeline.processes.log("worker").splitlines()
        )
    )


async def reservation_under_way(
    pipeline: Pipeline, ref: str, lines: list[tuple[int, int, str]]
) -> str:
    """Publish order `ref` and wait until its reservation is in its delay, before its effect;
    its workflow id."""
    await pipeline.publish.event(order_placed(ref, lines))
    async with asyncio.timeout(60):
        while True:
            row = await pipeline.order_row(ref)
            if row is not None:
                break
            await asyncio.sleep(0.1)
    workflow_id = f"order-{row['id']}"
    delayed = f"fault reserve_stock slow {float(RESERVATION_DELAY)}s {workflow_id}"
    await wait_until(lambda: delayed in pipeline.processes.log("worker"))
    return workflow_id


# Seconds each payment waits at the gateway, so every outage lands with orders mid-step.
PAYMENT_DELAY = 2
OPEN_ORDERS = "SELECT COUNT(*) FROM orders WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')"
# The shipped retry settings, where the pipeline fixture quickens them for other tests: an
# outage must be outlasted with what a deployment runs.
SHIPPED_RETRIES = {
    name.upper(): str(ConsumerSettings.model_fields[name].default)
    for name in (
        "retry_initial_seconds",
        "retry_max_seconds",
        "ordering_activity_initial_interval_seconds",
    )
}


async def test_each_server_killed_and_restarted_at_once_while_orders_flow_fails_no_order(
    pipeline: Pipeline, stack: PrivateStack
) -> None:
    start_faulty_worker(pipeline, f"process_payment:slow:{PAYMENT_DELAY}")
    pipeline.processes.start("consumer", **SHIPPED_RETRIES)
    killed: dict[Server, tuple[int, int]] = {}
    open_at_kill: dict[Server, int] = {}
    async with OrderStream(pipeline, "killed") as stream:
        await stream.completed_after(0)
        for server in SERVERS:
            open_at_kill[server] = await pipeline.count(OPEN_ORDERS)
            old_pid = await stack.kill(server)
            await stack.restart()
            killed[server] = (old_pid, stack.pid(server))
            # An order sent after the restart went all the way: producer, consumer, worker
            # and the status topic's reader all came back.
            await stream.completed_after(len(stream.acked), within=180)
    finals = await pipeline.statuses.wait_final(stream.acked, within=180)
    problems = await check(pipeline, Expected(orders=set(stream.acked)))

    assert problems == [], describe(problems)
    assert set(finals.values()) == {"COMPLETED"}
    assert all(old != new for old, new in killed.values()), killed
    assert all(open_at_kill.values()), f"each kill must land with orders open: {open_at_kill}"
    assert stream.failed_sends > 0, "the test's producer met the Kafka restart"
    consumer_log, worker_log = pipeline.processes.log("consumer"), pipeline.processes.log("worker")
    assert "Unable connect to node" in consumer_log
    assert "Unable connect to node" in worker_log
    assert re.search(TRANSIENT + "MySQL unavailable", consumer_log)


# How long each server stays down while orders flow, in turn.
OUTAGES: tuple[tuple[Server, float], ...] = (("kafka", 100), ("mariadb", 60), ("temporal", 60))


@pytest.mark.timeout(900)
async def test_kafka_down_100_s_then_mariadb_60_s_then_temporal_60_s_delay_orders_and_fail_none(
    pipeline: Pipeline, stack: PrivateStack
) -> None:
    start_faulty_worker(pipeline, f"process_payment:slow:{PAYMENT_DELAY}")
    pipeline.processes.start("consumer", **SHIPPED_RETRIES)
    open_at_start: dict[Server, int] = {}
    outbox_at_end: dict[Server, int] = {}
    async with OrderStream(pipeline, "outage", within=OUTAGES[0][1] + 120) as stream:
        await stream.completed_after(0)
        for server, seconds in OUTAGES:
            open_at_start[server] = await pipeline.count(OPEN_ORDERS)
            await stack.kill(server)
            await asyncio.sleep(seconds)  # the outage itself, not a wait for a condition
            if server != "mariadb":
                outbox_at_end[server] = await pipeline.count("SELECT COUNT(*) FROM status_outbox")
            await stack.restart()
            await stream.completed_after(len(stream.acked), within=180)
    finals = await pipeline.statuses.wait_final(stream.acked, within=300)
    problems = await check(pipeline, Expected(orders=set(stream.acked)))

    assert problems == [], describe(problems)
    assert set(finals.values()) == {"COMPLETED"}
    assert all(open_at_start.values()), f"each outage must begin with orders open: {open_at_start}"
    # Kafka away, the steps went on and their events waited in the outbox for the relay.
    assert outbox_at_end["kafka"] > 0
    assert await pipeline.count("SELECT COUNT(*) FROM status_outbox") == 0
    consumer_log, worker_log = pipeline.processes.log("consumer"), pipeline.processes.log("worker")
    assert "status events wait in the outbox" in worker_log
    assert re.search(TRANSIENT + "MySQL unavailable", consumer_log)
    assert re.search(TRANSIENT + "Temporal unavailable", consumer_log)
    assert all(p.poll() is None for p in pipeline.processes.running.values()), "none exited"


async def test_mariadb_killed_mid_run_dead_letters_nothing_and_half_applies_no_reservation(
    pipeline: Pipeline, stack: PrivateStack
) -> None:
    # Each reservation waits before it touches MySQL, so the kill can land while one is in
    # flight (tests/support/faulty_ports.py).
    start_faulty_worker(pipeline, f"reserve_stock:slow:{RESERVATION_DELAY}")
    # Default settings: the steps outlast the outage with the attempts a deployment has.
    pipeline.processes.start("consumer")
    # Every third order also takes one of the 10 lamps: 4 of those 14 must fail on stock,
    # and a reservation is all of an order's lines or none of them.
    before = [f"db-before-{n}" for n in range(30)]
    during = [f"db-during-{n}" for n in range(10)]
    lines = {
        ref: [line(MUG), line(LAMP)] if n % 3 == 0 else [line(TEA)]
        for n, ref in enumerate(before + during)
    }
    lines["db-in-flight"] = [line(MUG), line(TEA)]
    for ref in before:
        await pipeline.publish.event(order_placed(ref, lines[ref]))
    await pipeline.statuses.wait_for(lambda: any(pipeline.statuses.final(r) for r in before))
    in_flight = await reservation_under_way(pipeline, "db-in-flight", lines["db-in-flight"])

    old_pid = await stack.kill("mariadb")
    for ref in during:
        await pipeline.publish.event(order_placed(ref, lines[ref]))
    await wait_until(lambda: "MySQL unavailable" in pipeline.processes.log("consumer"))
    # The reservation in flight met the dead server and waits for its next attempt.
    await wait_for_failed_attempt(pipeline, in_flight, ADVANCE_ORDER_STEP)
    await stack.restart()
    refs = [*before, "db-in-flight", *during]
    finals = await pipeline.statuses.wait_final(refs, within=120)
    problems = await check(pipeline, Expected(orders=set(refs)))
    [reservation] = (await order_history(pipeline, "db-in-flight")).step_runs(ADVANCE_ORDER_STEP)
    reserved_lines = await pipeline.count(
        "SELECT COUNT(*) FROM stock_reservations r JOIN orders o ON o.id = r.order_id"
        " WHERE o.order_ref = 'db-in-flight'"
    )

    assert problems == [], describe(problems)
    assert Counter(finals.values()) == {"COMPLETED": 37, "FAILED": 4}
    assert all(
        pipeline.statuses.by_ref[ref][-1]["reason"].startswith("insufficient_stock")
        for ref, final in finals.items()
        if final == "FAILED"
    )
    assert stack.pid("mariadb") != old_pid
    assert re.search(TRANSIENT + "MySQL unavailable", pipeline.processes.log("consumer"))
    assert reservation.attempt >= 2, reservation  # the step's result, after the failed attempt
    assert reserved_lines == 2  # both of its lines


# A short stall time, a quick shutdown, and one record at a time.
STALL_SECONDS = 3
WATCHED = {
    "WATCHDOG_STALL_SECONDS": str(STALL_SECONDS),
    "SHUTDOWN_TIMEOUT_SECONDS": "2",
    "MAX_BATCH_RECORDS": "1",
    "MAX_CONCURRENCY": "1",
}


async def start_watched(pipeline: Pipeline) -> subprocess.Popen[bytes]:
    """The worker, and a consumer with a short stall time, both running: the worker polling
    its task queue, the consumer holding its partitions."""
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer", **WATCHED)
    await wait_until(lambda: "worker polling" in pipeline.processes.log("worker"))
    await wait_until(lambda: "partitions assigned" in pipeline.processes.log("consumer"))
    return pipeline.processes.running["consumer"]


async def test_a_consumer_stuck_behind_a_frozen_broker_exits_for_a_restart_that_loses_nothing(
    pipeline: Pipeline, stack: PrivateStack
) -> None:
    consumer = await start_watched(pipeline)
    # Twice the stall time on a quiet topic: idle is not stuck.
    with suppress(TimeoutError):
        await wait_until(lambda: consumer.poll() is not None, within=2 * STALL_SECONDS)
    assert consumer.poll() is None, "an idle consumer must keep running"

    # Hold the consumer back while orders arrive, so records are pending for certain when
    # the broker freezes: its sockets stay open, and it answers nothing.
    refs = [f"stuck-{n}" for n in range(20)]
    consumer.send_signal(signal.SIGSTOP)
    try:
        for ref in refs:
            await pipeline.publish.event(order_placed(ref, [line(TEA)]))
        stack.freeze("kafka")
    finally:
        consumer.send_signal(signal.SIGCONT)
    code = await exit_code(pipeline, "consumer")
    stuck_log = pipeline.processes.log("consumer")
    consumed_while_frozen = await pipeline.count("SELECT COUNT(*) FROM orders")
    stack.thaw("kafka")
    pipeline.processes.start("consumer")  # what its supervisor does
    finals = await pipeline.statuses.wait_final(refs)
    problems = await check(pipeline, Expected(orders=set(refs)))

    assert problems == [], describe(problems)
    assert set(finals.values()) == {"COMPLETED"}
    assert code == EXIT_STALLED
    assert (
        f"no progress for {STALL_SECONDS} s while records are pending; "
        "exiting so a supervisor restarts it"
    ) in stuck_log
    assert consumed_while_frozen < len(refs)


async def test_a_consumer_waiting_out_a_mariadb_outage_longer_than_its_stall_time_keeps_running(
    pipeline: Pipeline, stack: PrivateStack
) -> None:
    consumer = await start_watched(pipeline)
    refs = [f"waits-{n}" for n in range(3)]

    await stack.kill("mariadb")
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [line(TEA)]))
    await wait_until(
        lambda: (
            re.search(TRANSIENT + "MySQL unavailable", pipeline.processes.log("consumer"))
            is not None
        )
    )
    await asyncio.sleep(4 * STALL_SECONDS)  # the outage itself, not a wait for a condition
    assert consumer.poll() is None, "a consumer waiting out MySQL must not exit as stalled"
    await stack.restart()
    finals = await pipeline.statuses.wait_final(refs)
    problems = await check(pipeline, Expected(orders=set(refs)))

    assert "no progress for" not in pipeline.processes.log("consumer")
    assert consumer.poll() is None
    assert problems == [], describe(problems)
    assert set(finals.values()) == {"COMPLETED"}
