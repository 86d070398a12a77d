"""`cancel` and `force-status`: an operator's signals to a running order workflow, each checked
afterwards with `get_order_state`, so the tool says what the workflow made of it.

A cancellation is recorded on the order before it is signalled, as the consumer records a
customer's: a step that commits after it stops the order, whether or not the workflow has
taken the signal yet. An override is a signal only.

The workflow decides: `cancel_order` is honoured until the order ends or is already ending;
`update_order_status` only where the state machine allows it (CANCELLED, FAILED, or COMPLETED
to end a CONFIRMED order's cancellation window early), otherwise it is listed in the state's
`rejected_overrides`. A query sent after a signal sees it handled.
"""

from __future__ import annotations

from collections.abc import Callable

from db.order_rows import OrderRow
from schemas.order import OrderStatus
from schemas.workflow_io import (
    SIGNAL_CANCEL_ORDER,
    SIGNAL_UPDATE_ORDER_STATUS,
    OrderWorkflowState,
)
from tools.ops.errors import EXIT_OK, NotFoundError, NothingDoneError
from tools.ops.orders import OrderRecords
from tools.ops.workflows import WorkflowAccess, WorkflowUnansweredError

Write = Callable[[str], None]


async def cancel(
    records: OrderRecords, workflows: WorkflowAccess, reference: str, reason: str, write: Write
) -> int:
    order = await records.resolve(reference)
    workflow_id, _ = await _running_workflow(order, workflows)
    name = f"order {order.order_ref} ({workflow_id})"
    if not await records.record_cancellation(order.id, reason):
        raise NothingDoneError(f"{SIGNAL_CANCEL_ORDER} not sent: {name} has already ended")
    await workflows.signal(workflow_id, SIGNAL_CANCEL_ORDER, reason)
    after = await workflows.state(workflow_id)
    if after.cancel_requested and after.cancel_reason == reason:
        write(
            f"{SIGNAL_CANCEL_ORDER} accepted: {name} is cancelling from {after.status};"
            " stock is released and any payment refunded before it becomes CANCELLED"
        )
        return EXIT_OK
    why = (
        f"it is already {after.status}"
        if after.status.is_terminal
        else "it is already ending" + (f" ({after.cancel_reason})" if after.cancel_reason else "")
    )
    raise NothingDoneError(f"{SIGNAL_CANCEL_ORDER} changed nothing: {name}: {why}")


async def force_status(
    records: OrderRecords,
    workflows: WorkflowAccess,
    reference: str,
    status: OrderStatus,
    write: Write,
) -> int:
    order = await records.resolve(reference)
    workflow_id, before = await _running_workflow(order, workflows)
    await workflows.signal(workflow_id, SIGNAL_UPDATE_ORDER_STATUS, status.value)
    after = await workflows.state(workflow_id)
    name = f"order {order.order_ref} ({workflow_id})"
    new = after.rejected_overrides[len(before.rejected_overrides) :]
    rejected = [note for note in new if note.startswith(f"{status.value}:")]
    if rejected:
        raise NothingDoneError(
            f"override rejected: {name}: {rejected[-1]} (listed in rejected_overrides)"
        )
    write(
        f"override accepted: {name} goes from {before.status} to {status.value}"
        f" (its state now says {after.status})"
    )
    return EXIT_OK


async def _running_workflow(
    order: OrderRow, workflows: WorkflowAccess
) -> tuple[str, OrderWorkflowState]:
    """The order's running workflow and its state; a worker must answer before anything is
    sent, or what the signal did could not be told."""
    if order.temporal_workflow_id is None:
        raise NotFoundError(f"order {order.order_ref} has no workflow (status {order.status})")
    view = await workflows.view(order.temporal_workflow_id)
    if view is None:
        raise NotFoundError(
            f"order {order.order_ref}: workflow {order.temporal_workflow_id} not found"
            f" in namespace {workflows.namespace}"
        )
    if not view.runs_order(order.order_ref):
        raise NothingDoneError(
            f"order {order.order_ref}: {view.workflow_id} runs order {view.order_ref}, not this"
            " one (a recreated database?): nothing sent"
        )
    if not view.running:
        raise NothingDoneError(
            f"order {order.order_ref}: workflow {view.workflow_id} has already closed"
            f" ({view.status}, order {order.status}): nothing sent"
        )
    if view.state is None:
        raise WorkflowUnansweredError(f"{view.problem}: nothing sent")
    return view.workflow_id, view.state
