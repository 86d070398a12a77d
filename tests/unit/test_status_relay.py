"""The status relay over in-memory ports: order, retries, standing by, waking, stopping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from tests.support.relay_fakes import (
    WRITTEN_AT,
    FakeOutbox,
    FakeRelayMetrics,
    FakeTopic,
    outbox_row,
)
from worker.errors import RelayEndedError, RelaySendError
from worker.metrics import WorkerMetrics
from worker.outbox_pruner import OutboxPruner
from worker.relay import RelayOptions, StatusRelay
from worker.relay_lifecycle import until_stopped

# Retries at once in these tests; the poll is long, so only a wake-up explains a quick send.
QUICK = RelayOptions(
    holder="host/1",
    batch_size=3,
    poll_seconds=60,
    backoff_initial_seconds=0.001,
    backoff_max_seconds=0.004,
    slow_send_seconds=0.01,
)


def a_relay(
    outbox: FakeOutbox, topic: FakeTopic, metrics: FakeRelayMetrics | None = None
) -> StatusRelay:
    return StatusRelay(outbox, topic, metrics or FakeRelayMetrics(), QUICK)


@asynccontextmanager
async def running(relay: StatusRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        relay.stop()
        async with asyncio.timeout(5):
            await task


async def test_the_oldest_rows_are_sent_in_id_order_and_deleted_once_acknowledged() -> None:
    outbox, topic = FakeOutbox([outbox_row(2), outbox_row(1)]), FakeTopic()
    metrics = FakeRelayMetrics()

    relayed = await a_relay(outbox, topic, metrics).relay_once()

    assert relayed == 2
    assert [row.id for row in topic.acknowledged] == [1, 2]
    assert outbox.rows == []
    assert outbox.holders == ["host/1"]
    assert (metrics.relayed, metrics.leading, metrics.oldest) == (2, True, None)


async def test_a_batch_holds_at_most_the_batch_size_oldest_first() -> None:
    outbox, topic = FakeOutbox([outbox_row(n) for n in range(1, 8)]), FakeTopic()
    relay = a_relay(outbox, topic)

    await relay.relay_once()
    await relay.relay_once()

    assert topic.batches == [[1, 2, 3], [4, 5, 6]]
    assert [row.id for row in outbox.rows] == [7]


async def test_a_refused_batch_stays_in_the_outbox_and_goes_again_in_the_same_order() -> None:
    outbox, topic = FakeOutbox([outbox_row(n) for n in (1, 2, 3)]), FakeTopic()
    topic.refusals = 1
    relay = a_relay(outbox, topic)

    with pytest.raises(RelaySendError):
        await relay.relay_once()
    kept = [row.id for row in outbox.rows]
    await relay.relay_once()

    assert kept == [1, 2, 3]
    assert topic.batches == [[1, 2, 3], [1, 2, 3]]
    assert outbox.rows == []


async def test_a_relay_that_cannot_take_the_lease_stands_by_and_sends_nothing() -> None:
    outbox, topic, metrics = FakeOutbox([outbox_row(4)]), FakeTopic(), FakeRelayMetrics()
    outbox.held_elsewhere = True

    relayed = await a_relay(outbox, topic, metrics).relay_once()

    assert relayed == 0
    assert topic.batches == []
    assert [row.id for row in outbox.rows] == [4]
    # Standing by, it still says how old the oldest waiting event is.
    assert (metrics.leading, metrics.oldest) == (False, WRITTEN_AT + timedelta(seconds=4))


async def test_an_outage_is_logged_once_and_retried_until_every_event_has_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox, topic = FakeOutbox([outbox_row(n) for n in (1, 2)]), FakeTopic()
    topic.refusals, outbox.unavailable = 4, 3

    with caplog.at_level(logging.DEBUG, logger="worker.relay"):
        async with running(a_relay(outbox, topic)):
            await topic.wait_for(2)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "status events wait in the outbox" in warnings[0].getMessage()
    assert "status events leave the outbox again (7 failed tries)" in caplog.text
    assert [row.id for row in topic.acknowledged] == [1, 2]
    assert outbox.rows == []


async def test_a_batch_kafka_holds_up_is_awaited_not_sent_again_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox, topic = FakeOutbox([outbox_row(1)]), FakeTopic()
    topic.hold = asyncio.Event()  # the broker is away: the producer keeps retrying the batch
    metrics = FakeRelayMetrics()

    with caplog.at_level(logging.INFO, logger="worker.relay"):
        passing = asyncio.create_task(a_relay(outbox, topic, metrics).relay_once())
        async with asyncio.timeout(5):
            while True:  # until the relay says it is held up
                if "status events wait in the outbox" in caplog.text:
                    break
                await asyncio.sleep(0.01)
        held_up = (list(outbox.rows), metrics.oldest)
        topic.hold.set()
        relayed = await passing

    assert relayed == 1
    assert held_up == ([outbox_row(1)], outbox_row(1).created_at)  # its age keeps growing
    assert topic.batches == [[1]]
    assert "Kafka has not acknowledged 1 events in time" in caplog.text
    assert outbox.rows == []


def test_the_lag_is_the_age_of_the_oldest_waiting_event_when_scraped() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)

    metrics.oldest_waiting(datetime.now(UTC) - timedelta(seconds=30))
    waiting = registry.get_sample_value("ordering_status_relay_lag_seconds")
    metrics.oldest_waiting(None)
    caught_up = registry.get_sample_value("ordering_status_relay_lag_seconds")

    assert waiting is not None
    assert 30 <= waiting < 60
    assert caught_up == 0


async def test_a_wake_up_sends_a_new_event_without_waiting_for_the_poll() -> None:
    outbox, topic = FakeOutbox(), FakeTopic()
    relay = a_relay(outbox, topic)

    async with running(relay):
        await outbox.committed.wait()  # the first pass found nothing: the relay waits
        outbox.rows.append(outbox_row(1))
        relay.wake()
        await topic.wait_for(1, within=5)  # the poll is 60 s

    assert [row.id for row in topic.acknowledged] == [1]


async def test_a_stopped_relay_makes_a_last_pass_for_what_was_written_meanwhile() -> None:
    outbox, topic = FakeOutbox(), FakeTopic()
    relay = a_relay(outbox, topic)
    task = asyncio.create_task(relay.run())
    await outbox.committed.wait()  # the first pass found nothing: the relay waits

    outbox.rows.append(outbox_row(1))
    relay.stop()
    async with asyncio.timeout(5):
        await task

    assert [row.id for row in topic.acknowledged] == [1]


async def test_an_unexpected_error_ends_the_relay_and_the_worker_with_it() -> None:
    outbox, topic = FakeOutbox([outbox_row(1)]), FakeTopic()
    topic.bug = KeyError("a bug, not an outage")

    relaying = asyncio.create_task(a_relay(outbox, topic).run())
    with pytest.raises(KeyError, match="a bug"):
        await until_stopped(asyncio.Event(), relaying)

    assert [row.id for row in outbox.rows] == [1]


async def test_the_worker_runs_until_its_stop_while_the_relay_runs() -> None:
    stop, relay = asyncio.Event(), a_relay(FakeOutbox(), FakeTopic())
    async with running(relay) as relaying:
        stop.set()
        await until_stopped(stop, relaying)

        assert not relaying.done()


async def test_a_relay_ending_without_an_error_while_the_worker_runs_is_an_error() -> None:
    relaying = asyncio.create_task(asyncio.sleep(0))

    with pytest.raises(RelayEndedError):
        await until_stopped(asyncio.Event(), relaying)


class FakePrunedOutbox:
    def __init__(self, expired: int) -> None:
        self.expired = expired
        self.calls: list[tuple[float, int]] = []
        self.pruned = asyncio.Event()

    async def prune(self, older_than_seconds: float, limit: int) -> int:
        self.calls.append((older_than_seconds, limit))
        deleted = min(self.expired, limit)
        self.expired -= deleted
        if not self.expired:
            self.pruned.set()
        return deleted


async def test_with_an_external_relay_expired_rows_are_pruned_a_batch_at_a_time() -> None:
    outbox = FakePrunedOutbox(expired=5)
    pruner = OutboxPruner(outbox, retention_seconds=3600, batch_size=2, interval_seconds=60)

    task = asyncio.create_task(pruner.run())
    async with asyncio.timeout(5):
        await outbox.pruned.wait()
    pruner.stop()
    async with asyncio.timeout(5):
        await task

    assert outbox.calls == [(3600, 2)] * 3
