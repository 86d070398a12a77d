"""The consumer's door to Temporal: start an order's workflow once, signal its cancellation."""

from __future__ import annotations

import logging

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from consumer.errors import TransientError, WorkflowIdTakenError
from schemas.order import OrderStatus
from schemas.search_attributes import CUSTOMER_ID, ORDER_REF, ORDER_STATUS
from schemas.workflow_io import (
    SIGNAL_CANCEL_ORDER,
    WORKFLOW_TYPE,
    OrderWorkflowInput,
    workflow_id_for,
)

log = logging.getLogger(__name__)

_TRANSIENT = frozenset({
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED,
})  # fmt: skip


def summary(order: OrderWorkflowInput) -> str:
    """The line the Temporal UI shows for the order: who, what, how much; no contact data."""
    units = sum(line.quantity for line in order.items)
    return (
        f"Order {order.order_ref}: customer {order.customer_id}, {units} unit(s), "
        f"{order.total_amount} {order.currency}"
    )


def details(order: OrderWorkflowInput) -> str:
    """The order's lines as a Markdown table, for the workflow's page in the Temporal UI."""
    rows = [f"| {i.product_id} | {i.quantity} | {i.unit_price} |" for i in order.items]
    return "\n".join(["| product | quantity | unit price |", "|---|---|---|", *rows])


def _translate(error: RPCError) -> Exception:
    if error.status in _TRANSIENT:
        return TransientError(f"Temporal unavailable: {error.status.name}")
    return error


class TemporalOrders:
    """Starts and signals order workflows by name: the consumer never imports the worker."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None:
        """Start `order-<id>`, or find it: a running one is kept (its new input ignored) and a
        closed one is never run again, whatever Kafka redelivers.

        A workflow found, running or closed, is compared with the order by its `OrderRef`: the
        same order's is a duplicate (a redelivery, or another consumer handed the same record
        in a rebalance), and another order's (a database recreated under a running Temporal)
        is refused rather than adopted, on the first delivery and on every one after it. `new`
        says this call created the order's row: a workflow found then was started by another
        consumer, which is worth a log line.
        """
        workflow_id = workflow_id_for(workflow_input.order_id)
        try:
            await self._client.start_workflow(
                WORKFLOW_TYPE,
                workflow_input,
                id=workflow_id,
                task_queue=self._task_queue,
                # Never join a running workflow unseen: it is compared below.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # A closed order workflow is never run again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(ORDER_REF, workflow_input.order_ref),
                    SearchAttributePair(CUSTOMER_ID, workflow_input.customer_id),
                    SearchAttributePair(ORDER_STATUS, OrderStatus.PENDING.value),
                ]),
                static_summary=summary(workflow_input),
                static_details=details(workflow_input),
            )  # fmt: skip
        except WorkflowAlreadyStartedError:
            # Running, or closed within retention: this order's runs or ran once, and that is
            # all it ever will; another order's is refused.
            if not await self._runs_order(workflow_id, workflow_input.order_ref):
                raise WorkflowIdTakenError(workflow_id, workflow_input.order_ref) from None
            if new:
                log.info(
                    "order workflow found started by another consumer",
                    extra={"order_ref": workflow_input.order_ref, "workflow_id": workflow_id},
                )
        except RPCError as error:
            raise _translate(error) from error

    async def _runs_order(self, workflow_id: str, order_ref: str) -> bool:
        try:
            description = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            raise _translate(error) from error
        return description.typed_search_attributes.get(ORDER_REF) == order_ref

    async def cancel_order(self, workflow_id: str, reason: str) -> bool:
        """Signal `cancel_order`; False when the workflow has already closed."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return False
            await handle.signal(SIGNAL_CANCEL_ORDER, reason)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False  # closed between the two calls, or past retention
            raise _translate(error) from error
        return True
