"""A worker crashed right after a step's transaction committed, steps
failing after their effects, repeated status writes, and SIGTERM under load.

Each step is a local activity: its result reaches the workflow's history only when its workflow
task completes, so a worker that dies after a step's commit loses the task (it shows in the
history as a workflow task timed out) and the next worker runs the order's steps again. What
each test shows is that the steps run again find their transitions made in MySQL and repeat
no effect (a worker killed inside a step, and a relay between sending and deleting:
`test_worker_kills.py`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.steps import ADVANCE_ORDER_STEP, COMPLETE_ORDER_STEP, STOP_ORDER_STEP
from tests.support.fault_points import ACTIVITIES, CRASH_EXIT_CODE
from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline
from tests.support.worker_faults import (
    effect_row,
    event_copies,
    exit_code,
    history_lines,
    log_lines,
    order_history,
    outbox_events,
    start_faulty_worker,
    wait_for_empty_outbox,
)

QUICK_RETRIES = {"ORDERING_ACTIVITY_INITIAL_INTERVAL_SECONDS": "0.05"}
# The fault points after the transactions that enter statuses (worker/steps.py): the first's
# (PENDING to PROCESSING_PAYMENT, two points), the payment's (CONFIRMED, COMPLETED).
STATUS_WRITING_POINTS = ("update_status", "reserve_stock", "process_payment")


@dataclass(frozen=True)
class Crash:
    code: int
    log: str  # the crashed worker's
    pid: int  # the crashed worker's
    restarted_pid: int
    restarted_at: datetime


async def crash_after_effect(pipeline: Pipeline, point: str, ref: str) -> Crash:
    """One order on a worker that crashes at fault point `point`, right after its step's
    transaction committed and before the workflow task running the step completes; then a
    worker without the fault finishes it."""
    start_faulty_worker(pipeline, f"{point}:crash_after_effect")
    crashed_pid = pipeline.processes.running["worker"].pid
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed(ref, [(7, 2, "49.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
    restarted_at = datetime.now(UTC)
    pipeline.processes.start("worker")
    restarted_pid = pipeline.processes.running["worker"].pid
    await pipeline.statuses.wait_final([ref])
    return Crash(code, crashed_log, crashed_pid, restarted_pid, restarted_at)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # MySQL keeps UTC without a zone


async def test_a_worker_killed_after_capturing_a_payment_does_not_capture_it_again(
    pipeline: Pipeline,
) -> None:
    """A worker killed in the middle of the payment step, as Temporal sees it: the step's
    second transaction has committed the capture and CONFIRMED, its workflow task has not
    completed, so the task is lost with the step's result. The next worker runs the steps
    again; the payment step finds CONFIRMED in MySQL and returns before the gateway."""
    crash = await crash_after_effect(pipeline, "process_payment", "crash-pay")

    problems = await check(
        pipeline, Expected(orders={"crash-pay"}, statuses={"crash-pay": "COMPLETED"})
    )
    history = await order_history(pipeline, "crash-pay")
    [steps] = history.step_runs(ADVANCE_ORDER_STEP)
    payment = await effect_row(
        pipeline, "SELECT t.status, t.captured_at FROM payments t", "crash-pay"
    )
    confirmation = await effect_row(pipeline, "SELECT t.sent_at FROM notifications t", "crash-pay")

    assert problems == [], describe(problems)
    assert crash.code == CRASH_EXIT_CODE
    assert "fault process_payment crash_after_effect" in crash.log
    # The capture and CONFIRMED, with its confirmation, committed before the crash.
    assert as_utc(confirmation["sent_at"]) < crash.restarted_at
    assert history.lost_by(crash.pid), history  # the crashed worker's task timed out
    assert steps.worker.startswith(f"{crash.restarted_pid}@"), steps
    # The one capture is the lost task's: the step run again found it and took no other.
    assert payment["status"] == "CAPTURED"
    assert as_utc(payment["captured_at"]) < crash.restarted_at
    assert "order confirmation sent" not in pipeline.processes.log("worker")


async def test_a_worker_killed_after_reserving_stock_does_not_reserve_it_again(
    pipeline: Pipeline,
) -> None:
    """A worker killed in the middle of the reservation step, as Temporal sees it: its
    transaction has committed, its workflow task has not completed. The next worker runs the
    steps again: the reservation step finds the order past VALIDATING and takes no stock."""
    crash = await crash_after_effect(pipeline, "reserve_stock", "crash-stock")

    problems = await check(
        pipeline, Expected(orders={"crash-stock"}, statuses={"crash-stock": "COMPLETED"})
    )
    history = await order_history(pipeline, "crash-stock")
    [steps] = history.step_runs(ADVANCE_ORDER_STEP)
    reservation = await effect_row(
        pipeline, "SELECT t.quantity, t.reserved_at FROM stock_reservations t", "crash-stock"
    )

    assert problems == [], describe(problems)
    assert crash.code == CRASH_EXIT_CODE
    assert "fault reserve_stock crash_after_effect" in crash.log
    assert history.lost_by(crash.pid), history
    assert steps.worker.startswith(f"{crash.restarted_pid}@"), steps
    # The one reservation is the lost task's.
    assert as_utc(reservation["reserved_at"]) < crash.restarted_at
    assert reservation["quantity"] == 2
    assert await pipeline.stock(7) == 10 - 2


async def test_a_worker_killed_after_recording_a_status_loses_no_event_and_writes_none_twice(
    pipeline: Pipeline,
) -> None:
    """A worker killed right after the order's first transaction: it has recorded PENDING to
    PROCESSING_PAYMENT with their events in the outbox; neither its relay has sent them nor
    its workflow task completed."""
    start_faulty_worker(pipeline, "update_status:crash_after_effect")
    crashed_pid = pipeline.processes.running["worker"].pid
    pipeline.processes.start("consumer")
    await pipeline.publish.event(order_placed("crash-event", [(7, 2, "49.00")]))
    code = await exit_code(pipeline, "worker")
    crashed_log = pipeline.processes.log("worker")
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
    assert waiting == [f"{history.workflow_id}:{sequence}" for sequence in (1, 2, 3, 4)]
    # The steps ran again in the next worker's task and found PROCESSING_PAYMENT recorded.
    assert history.lost_by(crashed_pid), history
    assert len(history.step_runs(ADVANCE_ORDER_STEP)) == 1
    # The new worker's relay sent what the crashed one had not; the repeat wrote nothing.
    assert set(copies.values()) == {1}, copies
    assert len(copies) == 6
    assert await history_lines(pipeline, "crash-event") == list(range(1, 7))


async def test_every_effect_failing_twice_after_it_happened_changes_no_outcome(
    pipeline: Pipeline,
) -> None:
    every_fault = ",".join(f"{name}:fail_after_effect" for name in sorted(ACTIVITIES))
    # Quiet: every failed attempt would log a traceback, 1,000 of them on a 2-core machine.
    start_faulty_worker(pipeline, every_fault, LOG_LEVEL="ERROR")
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
    for ref in list(expected)[:20]:  # every kind of order, twice
        for step in (await order_history(pipeline, ref)).steps:
            attempts[step.name] = max(attempts[step.name], step.attempt)

    assert problems == [], describe(problems)
    assert endings == expected
    # The faults fired: the forward steps' validation and the stop reach their fault point
    # whatever they find, so their attempts 1 and 2 failed after the transaction. On a loaded
    # machine an attempt can also fail for a reason of its own, hence "at least".
    assert attempts[COMPLETE_ORDER_STEP] >= 1
    assert min(attempts[s] for s in (ADVANCE_ORDER_STEP, STOP_ORDER_STEP)) >= 3


def last_event(pipeline: Pipeline, ref: str) -> tuple[str, str | None]:
    event = max(pipeline.statuses.by_ref[ref], key=lambda e: e["sequence"])
    return event["status"], event["reason"]


async def test_retried_status_writes_leave_one_event_per_status_with_no_gap(
    pipeline: Pipeline,
) -> None:
    faults = ",".join(f"{point}:fail_after_effect" for point in STATUS_WRITING_POINTS)
    start_faulty_worker(pipeline, faults)
    pipeline.processes.start("consumer", **QUICK_RETRIES)
    refs = [f"repeat-{n}" for n in range(10)]
    for ref in refs:
        await pipeline.publish.event(order_placed(ref, [(2, 1, "5.00")]))
    # Attempts 1 and 2 of each step that enters statuses commit and then fail; the attempts
    # after them find the statuses entered. The relay sends in id order, so once an order's
    # COMPLETED has arrived, any second copy of its earlier events would have too.
    await pipeline.statuses.wait_final(refs)
    await wait_for_empty_outbox(pipeline)

    problems = await check(pipeline, Expected(orders=set(refs)))
    copies = event_copies(pipeline, refs)
    history = await order_history(pipeline, refs[0])
    attempts = {step.name: step.attempt for step in history.steps}

    assert problems == [], describe(problems)
    assert set(copies.values()) == {1}, copies  # each status's event written once
    assert len(copies) == 6 * len(refs)  # PENDING to COMPLETED, one id per status
    for ref in refs:  # and each status's history line
        assert await history_lines(pipeline, ref) == list(range(1, 7)), ref
    # Attempts 1 and 2 failed after validation's transaction; the third found each step's
    # transition made up to where the one before it stopped, and went on to COMPLETED.
    assert attempts == {ADVANCE_ORDER_STEP: 3}


async def test_sigterm_of_a_busy_worker_drains_its_activities_and_a_restart_finishes(
    pipeline: Pipeline,
) -> None:
    """SIGTERM while payment steps are in flight: they finish on the stopping worker, whose
    workflow tasks complete (none is lost); the orders then wait in their cancel window, and
    the restarted worker completes them."""
    start_faulty_worker(pipeline, "process_payment:slow:1.5")
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="3")
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
    restarted_pid = pipeline.processes.running["worker"].pid
    await pipeline.statuses.wait_final(refs, within=120)

    problems = await check(
        pipeline, Expected(orders=set(refs), statuses=dict.fromkeys(refs, "COMPLETED"))
    )
    histories = [await order_history(pipeline, ref) for ref in unfinished_at_stop]
    drained = [
        step
        for history in histories
        for step in history.step_runs(ADVANCE_ORDER_STEP)
        if step.worker.startswith(f"{worker_pid}@") and step.recorded_at > stopped_at
    ]
    finished_by_restart = [
        step
        for history in histories
        for step in history.step_runs(COMPLETE_ORDER_STEP)
        if step.worker.startswith(f"{restarted_pid}@")
    ]

    assert problems == [], describe(problems)
    assert code == 0
    assert "draining in-flight activities" in stopped_log
    assert "worker stopped" in stopped_log
    assert unfinished_at_stop, "the stop must land mid-stream"
    assert drained, "a payment in flight at SIGTERM must finish on the stopping worker"
    # A task the worker held when told to stop completes. One the server handed to a poll the
    # stopping worker was abandoning is not seen by it, and waits out the task timeout for
    # the next worker: a delay of that order, not a loss.
    held_at_stop = [
        task
        for history in histories
        for task in history.lost_by(worker_pid)
        if task.started_at is None or task.started_at < stopped_at
    ]
    assert held_at_stop == []
    assert finished_by_restart, "the restarted worker must finish orders the stop left open"
