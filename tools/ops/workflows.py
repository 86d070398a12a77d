"""The tools' door to Temporal: order workflows described, queried and signalled by name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError, RPCStatusCode

from schemas.search_attributes import ORDER_REF
from schemas.workflow_io import (
    QUERY_GET_ORDER_STATE,
    UPDATE_STATUS_ACTIVITY,
    OrderWorkflowResult,
    OrderWorkflowState,
    StatusChange,
)
from tools.ops.errors import NothingDoneError, ServiceUnavailableError


class WorkflowUnansweredError(ServiceUnavailableError):
    """No worker answered a query in time (none polling the task queue, or all busy)."""


@dataclass(frozen=True)
class WorkflowView:
    """A workflow as Temporal sees it: the query's answer while it runs, its result after."""

    workflow_id: str
    run_id: str
    status: str
    task_queue: str
    started_at: datetime | None
    closed_at: datetime | None
    search_order_ref: str | None = None  # its OrderRef search attribute
    state: OrderWorkflowState | None = None
    result: OrderWorkflowResult | None = None
    problem: str | None = None  # why `state` or `result` is missing

    @property
    def running(self) -> bool:
        return self.status == WorkflowExecutionStatus.RUNNING.name

    @property
    def order_ref(self) -> str | None:
        """The order this workflow runs, as far as Temporal tells."""
        if self.search_order_ref is not None:
            return self.search_order_ref
        answer = self.state or self.result
        return answer.order_ref if answer is not None else None

    def runs_order(self, order_ref: str) -> bool:
        """Whether this is that order's workflow. Ids are `order-<id>`: a database recreated
        against the same namespace starts its ids again, and would name other orders' runs."""
        return self.order_ref in (None, order_ref)


class WorkflowAccess:
    """The operator's access to order workflows: what each one shows, its state, its signals."""

    def __init__(self, client: Client, timeout_seconds: float) -> None:
        self._client = client
        self._timeout = timedelta(seconds=timeout_seconds)

    @property
    def namespace(self) -> str:
        return self._client.namespace

    async def view(self, workflow_id: str) -> WorkflowView | None:
        """The latest run of `workflow_id`, or None when Temporal does not know it."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            info = await handle.describe(rpc_timeout=self._timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _unavailable(error) from error
        status = info.status.name if info.status is not None else "UNKNOWN"
        view = WorkflowView(
            workflow_id,
            info.run_id,
            status,
            info.task_queue,
            info.start_time,
            info.close_time,
            info.typed_search_attributes.get(ORDER_REF),
        )
        if view.running:
            try:
                return replace(view, state=await self.state(workflow_id))
            except WorkflowUnansweredError as unanswered:
                return replace(view, problem=str(unanswered))
        return await self._with_result(view)

    async def state(self, workflow_id: str) -> OrderWorkflowState:
        """What `get_order_state` answers; a closed workflow is answered by a replay."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            state: OrderWorkflowState = await handle.query(
                QUERY_GET_ORDER_STATE, result_type=OrderWorkflowState, rpc_timeout=self._timeout
            )
        except RPCError as error:
            raise WorkflowUnansweredError(
                f"no worker answered {QUERY_GET_ORDER_STATE} on {workflow_id} within"
                f" {self._timeout.total_seconds():g}s ({_describe(error)})"
            ) from error
        except TemporalError as error:  # the query was rejected or its handler failed
            raise WorkflowUnansweredError(
                f"{QUERY_GET_ORDER_STATE} on {workflow_id} failed: {_describe(error)}"
            ) from error
        return state

    async def signal(self, workflow_id: str, signal: str, arg: str) -> None:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            await handle.signal(signal, arg, rpc_timeout=self._timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise NothingDoneError(f"{workflow_id} has closed: {signal} not sent") from error
            raise _unavailable(error) from error

    async def last_recorded_change(self, view: WorkflowView) -> StatusChange | None:
        """The last status the workflow recorded in MySQL and published: the input of its
        last completed `update_status` activity. None for an order whose steps ran in MySQL,
        which has no such activity."""
        handle = self._client.get_workflow_handle(view.workflow_id, run_id=view.run_id)
        scheduled: dict[int, Any] = {}
        last: Any = None
        try:
            async for event in handle.fetch_history_events(rpc_timeout=self._timeout):
                if event.HasField("activity_task_scheduled_event_attributes"):
                    attributes = event.activity_task_scheduled_event_attributes
                    if attributes.activity_type.name == UPDATE_STATUS_ACTIVITY:
                        scheduled[event.event_id] = attributes.input
                elif event.HasField("activity_task_completed_event_attributes"):
                    done = event.activity_task_completed_event_attributes.scheduled_event_id
                    last = scheduled.get(done, last)
        except RPCError as error:
            raise _unavailable(error) from error
        if last is None:
            return None
        [change] = await self._client.data_converter.decode(list(last.payloads), [StatusChange])
        return change if isinstance(change, StatusChange) else None

    async def _with_result(self, view: WorkflowView) -> WorkflowView:
        handle = self._client.get_workflow_handle(
            view.workflow_id, run_id=view.run_id, result_type=OrderWorkflowResult
        )
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=self._timeout)
        except WorkflowFailureError as failure:
            return replace(view, problem=f"closed {view.status}: {_describe(failure.cause)}")
        except RPCError as error:
            raise _unavailable(error) from error
        except TemporalError as other:  # continued as new: no result of its own
            return replace(view, problem=f"closed {view.status}: {_describe(other)}")
        return replace(view, result=result)


def _describe(error: BaseException) -> str:
    if isinstance(error, RPCError):
        return f"{error.status.name}: {error.message}"
    return str(error) or type(error).__name__


def _unavailable(error: RPCError) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"Temporal: {_describe(error)}")
