"""Faults 8, 9, 10 and 13: a worker crashed after an effect or between sending status events
and deleting them from the outbox, activities failing after their effects, repeated status
writes, and SIGTERM under load."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.faults.oracle import Expected, check, describe
from tests.faults.worker_faults import (
    SIDE_EFFECTING,
    event_copies,
    exit_code,
    log_lines,
    order_history,
)
from tests.harness import cancellation, order_placed
from tests.pipeline import Pipeline
from worker.crashpoints import CRASH_EXIT_CODE

# An attempt lost with a crashed worker is retried 3 s later instead of 30.
QUICK_TIMEOUT = {"ORDERING_ACTIVITY_TIMEOUT_SECONDS": "3"}
QUICK_RETRIES = {"ORDERING_ACTIVITY_INITIAL_INTERVAL_SECONDS": "0.05"}


async def crash_after_effect(pipeline: Pipeline, activity: str, ref: str) -> tuple[int, str]:
    """One order on a worker that crashes after `activity`'s effect; then a worker without the
    fault finishes it. Returns the crashed worker's exit code and log."""
    pipeline.processes.start("worker", ORDERING_FAULT=f"{activity}:crash_after_effect")
    pipeline.processes.start("consumer", **QUICK_TIMEOUT)
    await pipeline.publish.event(order_placed(ref, [(7, 2, "49.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    pipeline.processes.start("worker")
    await pipeline.statuses.wait_final([ref])
    return code, crashed_log


async def effect_row(pipeline: Pipeline, sql: str, ref: str) -> dict[str, Any]:
    rows = await pipeline.database.fetch_all(
        sql + " JOIN orders o ON o.id = t.order_id WHERE o.order_ref = :ref", {"ref": ref}
    )
    assert len(rows) == 1, f"{len(rows)} rows for {ref}"
    return dict(rows[0]._mapping)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # MySQL keeps UTC without a zone


async def test_a_worker_killed_after_capturing_a_payment_does_not_capture_it_again(
    pipeline: Pipeline,
) -> None:
    code, crashed_log = await crash_after_effect(pipeline, "process_payment", "crash-pay")

    problems = await check(
        pipeline, Expected(orders={"crash-pay"}, statuses={"crash-pay": "COMPLETED"})
    )
    [payment] = (await order_history(pipeline, "crash-pay")).runs("process_payment")
    capture = await effect_row(pipeline, "SELECT t.captured_at FROM payments t", "crash-pay")

    assert problems == [], describe(problems)
    assert code == CRASH_EXIT_CODE
    assert "fault process_payment crash_after_effect" in crashed_log
    assert payment.retried_after_timeout, payment
    assert payment.started_at is not None
    # The one capture is the lost attempt's: the retry found it and took no other.
    assert as_utc(capture["captured_at"]) < payment.started_at


async def test_a_worker_killed_after_reserving_stock_does_not_reserve_it_again(
    pipeline: Pipeline,
) -> None:
    code, crashed_log = await crash_after_effect(pipeline, "reserve_stock", "crash-stock")

    problems = await check(
        pipeline, Expected(orders={"crash-stock"}, statuses={"crash-stock": "COMPLETED"})
    )
    [reservation_run] = (await order_history(pipeline, "crash-stock")).runs("reserve_stock")
    reservation = await effect_row(
        pipeline, "SELECT t.reserved_at FROM stock_reservations t", "crash-stock"
    )

    assert problems == [], describe(problems)
    assert code == CRASH_EXIT_CODE
    assert "fault reserve_stock crash_after_effect" in crashed_log
    assert reservation_run.retried_after_timeout, reservation_run
    assert reservation_run.started_at is not None
    assert as_utc(reservation["reserved_at"]) < reservation_run.started_at
    assert await pipeline.stock(7) == 10 - 2


async def test_a_worker_killed_after_recording_a_status_loses_no_event_and_writes_none_twice(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker", ORDERING_FAULT="update_status:crash_after_effect")
    pipeline.processes.start("consumer", **QUICK_TIMEOUT)
    await pipeline.publish.event(order_placed("crash-event", [(7, 2, "49.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    # The crash came right after PENDING's transaction: its event waits in the outbox.
    waiting = await outbox_events(pipeline)
    pipeline.processes.start("worker")
    await pipeline.statuses.wait_final(["crash-event"])

    problems = await check(
        pipeline, Expected(orders={"crash-event"}, statuses={"crash-event": "COMPLETED"})
    )
    history = await order_history(pipeline, "crash-event")
    copies = event_copies(pipeline, ["crash-event"])

    assert problems == [], describe(problems)
    assert code == CRASH_EXIT_CODE
    assert "fault update_status crash_after_effect" in crashed_log
    assert waiting == [f"{history.workflow_id}:1"]
    # The validation announces PENDING in a local activity: the crash took its workflow task,
    # which timed out and ran again on the new worker, finding PENDING recorded.
    assert history.lost_tasks >= 1, history
    # The new worker's relay sent what the crashed one had not; the repeat wrote nothing.
    assert set(copies.values()) == {1}, copies
    assert len(copies) == 6


async def outbox_events(pipeline: Pipeline) -> list[str]:
    rows = await pipeline.database.fetch_all("SELECT event_id FROM status_outbox ORDER BY id")
    return [str(row._mapping["event_id"]) for row in rows]


async def test_a_worker_killed_between_sending_events_and_deleting_them_sends_them_again_in_order(
    pipeline: Pipeline,
) -> None:
    # The relay's first batch is acknowledged by Kafka, then the process ends before the
    # batch's rows are deleted, as kill -9 would leave it.
    pipeline.processes.start("worker", ORDERING_FAULT="status_relay:crash_after_effect")
    pipeline.processes.start("consumer", **QUICK_TIMEOUT)
    refs = [f"crash-relay-{n}" for n in range(5)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    sent_not_deleted = await outbox_events(pipeline)
    pipeline.processes.start("worker")
    await pipeline.statuses.wait_final(refs)

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )
    copies = event_copies(pipeline, refs)

    assert problems == [], describe(problems)  # including: first arrivals in sequence order
    assert code == CRASH_EXIT_CODE
    assert "fault status_relay crash_after_effect" in crashed_log
    assert sent_not_deleted, "the crash must leave sent rows in the outbox"
    # The lost batch went out again, under its ids; only rows still in the outbox repeated.
    repeated = {event_id for event_id, n in copies.items() if n > 1}
    assert repeated, copies
    assert repeated <= set(sent_not_deleted), (repeated, sent_not_deleted)
    assert await outbox_events(pipeline) == []


async def test_every_effect_failing_twice_after_it_happened_changes_no_outcome(
    pipeline: Pipeline,
) -> None:
    every_fault = ",".join(f"{name}:fail_after_effect" for name in SIDE_EFFECTING)
    # Quiet: every failed attempt would log a traceback, 4,000 of them on a 2-core machine.
    pipeline.processes.start("worker", ORDERING_FAULT=every_fault, LOG_LEVEL="ERROR")
    # The window holds CONFIRMED orders, so a cancellation never arrives too late.
    pipeline.processes.start("consumer", **QUICK_RETRIES, ORDERING_CANCEL_WINDOW_SECONDS="2")
    expected: dict[str, tuple[str, str | None]] = {}
    for n in range(200):
        ref, kind = f"flaky-{n}", n % 10
        if kind == 0:
            await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")], token="tok_decline"))
            expected[ref] = ("FAILED", "payment_declined")
        elif kind == 1:
            await pipeline.publish.event(order_placed(ref, [(99, 1, "1.00")]))
            expected[ref] = ("FAILED", "unknown_product:product=99")
        else:
            await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99"), (2, 2, "5.00")]))
            expected[ref] = ("COMPLETED", None)
        if kind == 2:
            await pipeline.publish.event(cancellation(ref))
            expected[ref] = ("CANCELLED", "cancelled_by_customer")
    await pipeline.statuses.wait_final(list(expected), within=150)

    problems = await check(
        pipeline,
        Expected(orders=set(expected), statuses={ref: s for ref, (s, _) in expected.items()}),
    )
    endings = {ref: last_event(pipeline, ref) for ref in expected}
    attempts: Counter[str] = Counter()
    for ref in ("flaky-0", "flaky-3"):  # a declined order compensates, a good one completes
        for run in (await order_history(pipeline, ref)).activities:
            attempts[run.name] = max(attempts[run.name], run.attempt)

    assert problems == [], describe(problems)
    assert endings == expected
    assert {name: attempts[name] for name in SIDE_EFFECTING} == dict.fromkeys(SIDE_EFFECTING, 3)


def last_event(pipeline: Pipeline, ref: str) -> tuple[str, str | None]:
    event = max(pipeline.statuses.by_ref[ref], key=lambda e: e["sequence"])
    return event["status"], event["reason"]


async def test_retried_status_writes_leave_one_event_per_status_with_no_gap(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker", ORDERING_FAULT="update_status:fail_after_effect")
    pipeline.processes.start("consumer", **QUICK_RETRIES)
    refs = [f"repeat-{n}" for n in range(10)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")]))
    # Attempts 1 and 2 of each activity record the first status it carries and then fail;
    # attempt 3 records it again and goes on. The relay sends in id order, so once an order's
    # COMPLETED has arrived, any second copy of its earlier events would have too.
    await pipeline.statuses.wait_final(refs)

    problems = await check(pipeline, Expected(orders=set(refs)))
    copies = event_copies(pipeline, refs)
    history = await order_history(pipeline, refs[0])

    assert problems == [], describe(problems)
    assert set(copies.values()) == {1}, copies  # each status's event written once
    assert len(copies) == 6 * len(refs)  # PENDING to COMPLETED, one id per status
    for step in ("reserve_stock", "process_payment", "send_order_confirmation", "update_status"):
        assert {run.attempt for run in history.runs(step)} == {3}, step


async def test_sigterm_of_a_busy_worker_drains_its_activities_and_a_restart_finishes(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker", ORDERING_FAULT="process_payment:slow:1.5")
    pipeline.processes.start("consumer")
    refs = [f"drain-{n}" for n in range(40)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(1, 1, "19.99")]))
    await log_lines(pipeline, "worker", "fault process_payment slow", count=5)

    worker_pid = pipeline.processes.running["worker"].pid
    unfinished_at_stop = [ref for ref in refs if pipeline.statuses.final(ref) is None]
    stopped_at = datetime.now(UTC)
    code = pipeline.processes.terminate("worker")
    stopped_log = pipeline.processes.log("worker")
    pipeline.processes.start("worker")
    await pipeline.statuses.wait_final(refs, within=120)

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )
    drained = [
        run
        for ref in unfinished_at_stop
        for run in (await order_history(pipeline, ref)).runs("process_payment")
        if run.worker.startswith(f"{worker_pid}@")
        and run.completed_at is not None
        and run.completed_at > stopped_at
    ]

    assert problems == [], describe(problems)
    assert code == 0
    assert "draining in-flight activities" in stopped_log
    assert "worker stopped" in stopped_log
    assert unfinished_at_stop, "the stop must land mid-stream"
    assert drained, "a payment in flight at SIGTERM must finish on the stopping worker"
