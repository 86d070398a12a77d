"""What the worker fault tests read back: activity runs from workflow histories, worker exits,
log lines and the raw status events."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from temporalio.api.history.v1 import HistoryEvent

from tests.pipeline import Pipeline

SIDE_EFFECTING = (
    "update_status",
    "reserve_stock",
    "release_stock",
    "process_payment",
    "refund_payment",
    "send_order_confirmation",
)


@dataclass(frozen=True)
class ActivityRun:
    """One scheduled activity as its history tells it: the attempt that ended it and how."""

    name: str
    scheduled_event_id: int
    attempt: int = 0
    worker: str = ""
    last_failure: str = ""
    started_at: datetime | None = None
    completed_event_id: int | None = None
    completed_at: datetime | None = None

    @property
    def retried_after_timeout(self) -> bool:
        return self.attempt >= 2 and "timeout" in self.last_failure.lower()


@dataclass(frozen=True)
class OrderHistory:
    workflow_id: str
    activities: list[ActivityRun]
    signals: dict[int, str]  # event id -> signal name
    lost_tasks: int = 0  # workflow tasks that timed out: a worker went away while holding one

    def runs(self, name: str) -> list[ActivityRun]:
        return [run for run in self.activities if run.name == name]

    def signalled_while_running(self, signal: str, activity: str) -> bool:
        """Whether `signal` arrived after `activity` was scheduled and before it completed."""
        return any(
            run.completed_event_id is not None
            and run.scheduled_event_id < event_id < run.completed_event_id
            for run in self.runs(activity)
            for event_id, name in self.signals.items()
            if name == signal
        )


async def order_history(pipeline: Pipeline, ref: str) -> OrderHistory:
    row = await pipeline.order_row(ref)
    assert row is not None, ref
    workflow_id = f"order-{row['id']}"
    history = await pipeline.temporal.get_workflow_handle(workflow_id).fetch_history()
    runs: dict[int, ActivityRun] = {}
    signals: dict[int, str] = {}
    for event in history.events:
        _read_event(event, runs, signals)
    lost = sum(e.HasField("workflow_task_timed_out_event_attributes") for e in history.events)
    return OrderHistory(workflow_id, list(runs.values()), signals, lost)


def _read_event(event: HistoryEvent, runs: dict[int, ActivityRun], signals: dict[int, str]) -> None:
    if event.HasField("activity_task_scheduled_event_attributes"):
        name = event.activity_task_scheduled_event_attributes.activity_type.name
        runs[event.event_id] = ActivityRun(name, event.event_id)
    elif event.HasField("activity_task_started_event_attributes"):
        started = event.activity_task_started_event_attributes
        run = runs[started.scheduled_event_id]
        runs[run.scheduled_event_id] = ActivityRun(
            run.name,
            run.scheduled_event_id,
            attempt=started.attempt,
            worker=started.identity,
            last_failure=started.last_failure.message,
            started_at=event.event_time.ToDatetime(UTC),
        )
    elif event.HasField("activity_task_completed_event_attributes"):
        scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
        run = runs[scheduled]
        runs[scheduled] = replace(
            run, completed_event_id=event.event_id, completed_at=event.event_time.ToDatetime(UTC)
        )
    elif event.HasField("workflow_execution_signaled_event_attributes"):
        signals[event.event_id] = event.workflow_execution_signaled_event_attributes.signal_name


async def exit_code(pipeline: Pipeline, name: str, within: float = 60) -> int:
    """Wait for process `name` to end by itself and return its exit code."""
    process = pipeline.processes.running[name]
    code = await asyncio.to_thread(process.wait, within)
    del pipeline.processes.running[name]
    return code


async def log_lines(pipeline: Pipeline, name: str, text: str, count: int = 1) -> list[str]:
    """Wait until process `name`'s current log holds `count` lines containing `text`."""
    async with asyncio.timeout(60):
        while True:
            lines = [x for x in pipeline.processes.log(name).splitlines() if text in x]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.1)


def event_copies(pipeline: Pipeline, refs: list[str]) -> Counter[str]:
    """How many times each status event of `refs` was seen on the status topic."""
    return Counter(e["event_id"] for ref in refs for e in pipeline.statuses.by_ref.get(ref, []))
