"""How the worker fault tests start a faulty worker, and what they read back: steps and lost
workflow tasks from workflow histories, worker exits, log lines and the raw status events."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

from tests.support.pipeline import Pipeline

LOCAL_ACTIVITY_MARKER = "core_local_activity"
FAULTY_WORKER = "tests.support.faulty_worker"


def start_faulty_worker(pipeline: Pipeline, faults: str, **env: str) -> None:
    """Start the worker with the fault points `faults` armed (`ORDERING_FAULT`, as
    `tests.support.fault_points` reads it), under the name "worker" as the plain one."""
    pipeline.processes.start(FAULTY_WORKER, name="worker", ORDERING_FAULT=faults, **env)


@dataclass(frozen=True)
class ActivityRun:
    """One scheduled (regular) activity as its history tells it: the attempt that ended it and
    how. Orders started before `steps-in-mysql` run their steps so."""

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
class StepRun:
    """One local activity (a step of `schemas.steps`) as its marker tells it. A marker reaches
    the history only with the workflow task that ran the step, so a step run by a task that
    was lost has none: it shows as that `LostTask`, and the step's run again as this."""

    name: str
    marker_event_id: int
    attempt: int  # the attempt that ended it, within one workflow task
    worker: str  # the identity (`<pid>@<host>`) of the worker whose task recorded it
    recorded_at: datetime  # when that workflow task completed


@dataclass(frozen=True)
class LostTask:
    """A workflow task a worker started and never completed: it timed out (the worker went away
    holding it) or failed (its completion refused, as when a signal came during the task that
    would have ended the workflow). The local steps it ran are in MySQL only."""

    worker: str
    ended_event_id: int
    ended_at: datetime
    how: str  # TIMEOUT_TYPE_START_TO_CLOSE, WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND…
    started_at: datetime | None = None  # when the server handed the task to the worker


@dataclass(frozen=True)
class OrderHistory:
    workflow_id: str
    activities: list[ActivityRun]
    signals: dict[int, str]  # event id -> signal name
    steps: list[StepRun] = field(default_factory=list)
    lost: list[LostTask] = field(default_factory=list)

    @property
    def lost_tasks(self) -> int:
        return len(self.lost)

    def runs(self, name: str) -> list[ActivityRun]:
        return [run for run in self.activities if run.name == name]

    def step_runs(self, name: str) -> list[StepRun]:
        return [run for run in self.steps if run.name == name]

    def step_counts(self) -> Counter[str]:
        """How many times each step's marker was recorded, by activity type."""
        return Counter(run.name for run in self.steps)

    def lost_by(self, pid: int) -> list[LostTask]:
        return [task for task in self.lost if task.worker.startswith(f"{pid}@")]

    def signalled_while_running(self, signal: str, activity: str) -> bool:
        """Whether `signal` arrived after `activity` was scheduled and before it completed."""
        return any(
            run.completed_event_id is not None
            and run.scheduled_event_id < event_id < run.completed_event_id
            for run in self.runs(activity)
            for event_id, name in self.signals.items()
            if name == signal
        )


@dataclass
class _Reading:
    runs: dict[int, ActivityRun] = field(default_factory=dict)
    signals: dict[int, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    lost: list[LostTask] = field(default_factory=list)
    task_workers: dict[int, str] = field(default_factory=dict)  # task started/completed -> id
    task_ends: dict[int, datetime] = field(default_factory=dict)  # task completed -> when
    task_starts: dict[int, datetime] = field(default_factory=dict)  # task started -> when


async def order_history(pipeline: Pipeline, ref: str) -> OrderHistory:
    row = await pipeline.order_row(ref)
    assert row is not None, ref
    workflow_id = f"order-{row['id']}"
    history = await pipeline.temporal.get_workflow_handle(workflow_id).fetch_history()
    reading = _Reading()
    for event in history.events:
        _read_event(event, reading)
        _read_task(event, reading)
    return OrderHistory(
        workflow_id, list(reading.runs.values()), reading.signals, reading.steps, reading.lost
    )


def _read_event(event: HistoryEvent, reading: _Reading) -> None:
    runs = reading.runs
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
        name = event.workflow_execution_signaled_event_attributes.signal_name
        reading.signals[event.event_id] = name


def _read_task(event: HistoryEvent, reading: _Reading) -> None:
    """Workflow tasks: who ran them, which were lost, and the steps the completed ones ran."""
    at = event.event_time.ToDatetime(UTC)
    if event.HasField("workflow_task_started_event_attributes"):
        identity = event.workflow_task_started_event_attributes.identity
        reading.task_workers[event.event_id] = identity
        reading.task_starts[event.event_id] = at
    elif event.HasField("workflow_task_completed_event_attributes"):
        completed = event.workflow_task_completed_event_attributes
        reading.task_workers[event.event_id] = completed.identity
        reading.task_ends[event.event_id] = at
    elif event.HasField("workflow_task_timed_out_event_attributes"):
        timed_out = event.workflow_task_timed_out_event_attributes
        # Not a task left waiting on a stopped worker's sticky queue: one a worker started.
        if timed_out.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE:
            worker = reading.task_workers.get(timed_out.started_event_id, "")
            how = TimeoutType.Name(timed_out.timeout_type)
            started_at = reading.task_starts.get(timed_out.started_event_id)
            reading.lost.append(LostTask(worker, event.event_id, at, how, started_at))
    elif event.HasField("workflow_task_failed_event_attributes"):
        failed = event.workflow_task_failed_event_attributes
        how = WorkflowTaskFailedCause.Name(failed.cause)
        worker = reading.task_workers.get(failed.started_event_id, failed.identity)
        started_at = reading.task_starts.get(failed.started_event_id)
        reading.lost.append(LostTask(worker, event.event_id, at, how, started_at))
    elif (
        event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    ):
        marker = event.marker_recorded_event_attributes
        data = json.loads(marker.details["data"].payloads[0].data)
        task = marker.workflow_task_completed_event_id
        reading.steps.append(
            StepRun(
                name=str(data["activity_type"]),
                marker_event_id=event.event_id,
                attempt=int(data["attempt"]),
                worker=reading.task_workers.get(task, ""),
                recorded_at=reading.task_ends.get(task, at),
            )
        )


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


async def effect_row(pipeline: Pipeline, sql: str, ref: str) -> dict[str, Any]:
    """The one row `sql` (`SELECT … FROM <table> t`) finds for order `ref`."""
    rows = await pipeline.database.fetch_all(
        sql + " JOIN orders o ON o.id = t.order_id WHERE o.order_ref = :ref", {"ref": ref}
    )
    assert len(rows) == 1, f"{len(rows)} rows for {ref}"
    return dict(rows[0]._mapping)


async def history_lines(pipeline: Pipeline, ref: str) -> list[int]:
    """The sequences of order `ref`'s lines in `order_status_history`, in order."""
    rows = await pipeline.database.fetch_all(
        "SELECT h.sequence FROM order_status_history h JOIN orders o ON o.id = h.order_id"
        " WHERE o.order_ref = :ref ORDER BY h.sequence",
        {"ref": ref},
    )
    return [int(row._mapping["sequence"]) for row in rows]


async def outbox_events(pipeline: Pipeline) -> list[str]:
    """The event ids of the status outbox's rows, oldest first."""
    rows = await pipeline.database.fetch_all("SELECT event_id FROM status_outbox ORDER BY id")
    return [str(row._mapping["event_id"]) for row in rows]


async def wait_for_empty_outbox(pipeline: Pipeline, within: float = 30) -> None:
    """Wait until the relay has deleted every row it sent."""
    async with asyncio.timeout(within):
        while True:
            if not await outbox_events(pipeline):
                return
            await asyncio.sleep(0.1)
