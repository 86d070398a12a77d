"""`inspect`: one order's rows, side effects, status history and workflow, for a person or a
machine. The payment token is never stored, so never shown; text masks the customer's email."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel

from db.audit import NotificationRow, ReservationRow
from db.order_rows import ItemRow, OrderRow, StatusRow
from db.payments import PaymentRow
from schemas.workflow_io import workflow_id_for
from tools.ops.orders import OrderRecords
from tools.ops.workflows import WorkflowAccess, WorkflowView


@dataclass(frozen=True)
class OrderReport:
    order: OrderRow
    items: list[ItemRow]
    stock_reservations: list[ReservationRow]
    payment: PaymentRow | None
    notifications: list[NotificationRow]
    status_history: list[StatusRow]
    workflow_id: str
    workflow: WorkflowView | None
    namespace: str


async def gather(records: OrderRecords, workflows: WorkflowAccess, reference: str) -> OrderReport:
    order = await records.resolve(reference)
    # The id is fixed per order, so a workflow started but not yet linked is found too.
    workflow_id = order.temporal_workflow_id or workflow_id_for(order.id)
    return OrderReport(
        order=order,
        items=await records.items(order.id),
        stock_reservations=await records.reservations(order.id),
        payment=await records.payment(order.id),
        notifications=await records.notifications(order.id),
        status_history=await records.history(order.id),
        workflow_id=workflow_id,
        workflow=await workflows.view(workflow_id),
        namespace=workflows.namespace,
    )


def mask_email(email: str | None) -> str:
    """`a***@example.com`: enough to recognise, not enough to contact. An email sealed with
    the order's secrets is not shown at all."""
    if email is None:
        return "(sealed)"
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def as_json(report: OrderReport) -> str:
    document = dataclasses.asdict(report)
    # A digest over the order's content, payment token included: it could confirm a guess.
    del document["order"]["content_fingerprint"]
    return json.dumps(document, default=_plain, indent=2)


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def as_text(report: OrderReport) -> str:
    o = report.order
    lines = [
        f"order {o.id}  ref {o.order_ref}",
        f"  status      {o.status} (sequence {o.status_sequence})"
        + (f"  reason {o.failure_reason}" if o.failure_reason else ""),
        f"  customer    {o.customer_id}  {mask_email(o.customer_email)}",
        f"  placed      {_when(o.order_date)}",
        f"  total       {o.total_amount} {o.currency}, paid by {o.payment_method}",
        f"  workflow    {o.temporal_workflow_id or '(none recorded)'}",
        f"items ({len(report.items)})",
        *(f"  product {i.product_id}  x{i.quantity}  at {i.unit_price}" for i in report.items),
        f"stock reservations ({len(report.stock_reservations)})",
        *(
            f"  product {r.product_id}  x{r.quantity}  reserved {_when(r.reserved_at)}  "
            + (f"released {_when(r.released_at)}" if r.released_at else "held")
            for r in report.stock_reservations
        ),
        "payment",
        *_payment(report.payment),
        f"notifications ({len(report.notifications)})",
        *(f"  {n.kind}  sent {_when(n.sent_at)}" for n in report.notifications),
        f"status history ({len(report.status_history)})",
        *(
            f"  {h.sequence:>3}  {_when(h.occurred_at)}  {h.status}"
            + (f"  ({h.reason})" if h.reason else "")
            for h in report.status_history
        ),
        *_workflow_lines(report),
    ]
    return "\n".join(lines)


def _workflow_lines(report: OrderReport) -> list[str]:
    view = report.workflow
    if view is None:
        if report.order.temporal_workflow_id is None:
            return ["workflow: none (no workflow was started for this order)"]
        return [
            f"workflow {report.workflow_id}: not found in namespace {report.namespace}"
            " (past its retention, or another namespace?)"
        ]
    lines = [
        f"workflow {view.workflow_id}  run {view.run_id}  task queue {view.task_queue}",
        f"  execution   {view.status}  started {_when(view.started_at)}"
        + (f"  closed {_when(view.closed_at)}" if view.closed_at else ""),
    ]
    if view.state is not None:
        s = view.state
        lines += [
            f"  state       {s.status} (sequence {s.sequence})"
            + (f"  reason {s.reason}" if s.reason else ""),
            f"  stock       {'reserved' if s.stock_reserved else 'not reserved'}",
            f"  payment     {s.payment_id or 'none'}",
            "  cancel      "
            + (f"requested ({s.cancel_reason})" if s.cancel_requested else "not requested"),
            f"  rejected overrides: {'; '.join(s.rejected_overrides) or 'none'}",
        ]
    if view.result is not None:
        r = view.result
        lines.append(
            f"  result      order {r.status}"
            + (f"  reason {r.reason}" if r.reason else "")
            + (f"  payment {r.payment_id}" if r.payment_id else "")
        )
    if view.problem:
        lines.append(f"  note        {view.problem}")
    if not view.runs_order(report.order.order_ref):
        lines.append(f"  note        this workflow runs order {view.order_ref}, not this one")
    return lines


def _payment(payment: PaymentRow | None) -> list[str]:
    """The payment's state and the gateway's id for it (none until a capture is known), and
    the key the gateway is asked by: INTENDED means a capture may have happened under it."""
    if payment is None:
        return ["  none"]
    lines = [
        f"  {payment.status}  {payment.amount} {payment.currency}"
        f"  payment id {payment.payment_id or 'none'}"
        + (f"  key {payment.idempotency_key}" if payment.idempotency_key else "")
    ]
    moments = [
        ("intended", payment.intended_at),
        ("captured", payment.captured_at),
        ("refunded", payment.refunded_at),
    ]
    lines += [f"  {name:<11} {_when(moment)}" for name, moment in moments if moment is not None]
    return lines


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
