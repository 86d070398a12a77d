"""`reconcile`: orders whose MySQL row and Temporal workflow disagree, repaired where that is
safe and reported where it takes a person. It looks at orders not yet COMPLETED, FAILED or
CANCELLED (--all: every order). A row changed less than --stale-after seconds ago is left
alone unless its workflow has closed: its own writes may still be on their way.

Repaired (unless --dry-run):
- a closed workflow whose row shows another status: the row is given the last status the
  workflow recorded and published. When the row's sequence is behind, that very change is
  written again (what the worker wrote; idempotent). When the row claims that sequence or a
  later one yet shows another status (edited by hand), the status is written under the row's
  next sequence, because the repository never lets an equal or older sequence overwrite a
  row; no status event was ever published under that sequence. No event is published: the
  workflow published its statuses itself.
- a row that does not name its workflow although `order-<id>` exists: the link is written.

Only reported:
- a running workflow that the row lags: only the worker's update_status can write it.
- a running workflow whose row is ahead or differs: never written, for a write under a new
  sequence would keep the workflow's next status out of the row.
- a running workflow no worker answers about (get_order_state unanswered).
- a workflow that ended without finishing the order (terminated, timed out, failed): its
  compensation did not run, so stock or money may be held.
- an order with no workflow: it cannot be started from here, for the payment token is not
  stored in MySQL. When the row names no workflow, re-publishing its OrderPlaced (or
  re-driving it from the dead-letter topic) starts it; a row naming a workflow the namespace
  does not know (past retention?) needs a person.
- `order-<id>` running another order (its OrderRef differs): the database and the namespace
  do not belong together.

Exit code 0 when nothing is left to do, 1 when findings remain (all of them under --dry-run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from db.order_rows import OrderRow
from ops.errors import EXIT_NOTHING, EXIT_OK
from ops.orders import OrderRecords
from ops.workflows import OrderWorkflows, WorkflowView
from schemas.workflow_io import StatusChange, workflow_id_for

Write = Callable[[str], None]

REPAIRED, WOULD_REPAIR, REPORTED, CATCHING_UP = "repaired", "would repair", "reported", "young"


@dataclass(frozen=True)
class Options:
    dry_run: bool
    stale_after_seconds: int
    include_terminal: bool
    orders_topic: str


class Reconciler:
    def __init__(
        self, records: OrderRecords, workflows: OrderWorkflows, options: Options, write: Write
    ) -> None:
        self._records = records
        self._workflows = workflows
        self._options = options
        self._write = write
        self.tally: Counter[str] = Counter()

    async def run(self) -> int:
        candidates = await self._records.candidates(include_terminal=self._options.include_terminal)
        for candidate in candidates:
            order = await self._records.get(candidate.order_id)
            if order is not None:
                await self._check(order, idle=candidate.idle_seconds)
        self._write(_summary(len(candidates), self.tally, self._workflows.namespace))
        unrepaired = self.tally[REPORTED] + self.tally[WOULD_REPAIR]
        return EXIT_NOTHING if unrepaired else EXIT_OK

    @property
    def _stale_after(self) -> int:
        return self._options.stale_after_seconds

    async def _check(self, order: OrderRow, *, idle: int) -> None:
        young = idle < self._stale_after
        workflow_id = order.temporal_workflow_id or workflow_id_for(order.id)
        view = await self._workflows.view(workflow_id)
        if view is None:
            if not order.status.is_terminal:  # a terminal one may be past its retention
                self._missing_workflow(order, young=young)
            return
        if not view.runs_order(order.order_ref):
            self._report(
                order,
                f"{workflow_id} runs order {view.order_ref}, not this one: the database and the"
                f" namespace {self._workflows.namespace} do not belong together; nothing written",
            )
            return
        if order.temporal_workflow_id is None and not young:
            await self._repair(
                order,
                f"row names no workflow, but {workflow_id} exists",
                f"link the row to {workflow_id}",
                lambda: self._records.set_workflow_id(order.id, workflow_id),
            )
        if view.running:
            self._compare_running(order, view, idle=idle)
        else:
            await self._compare_closed(order, view)

    def _missing_workflow(self, order: OrderRow, *, young: bool) -> None:
        if young:
            self.tally[CATCHING_UP] += 1
        elif order.temporal_workflow_id is None:
            self._report(
                order,
                f"{order.status} and no workflow was started; it cannot be started from here"
                " (the payment token is not stored in MySQL): re-publish its OrderPlaced to"
                f" {self._options.orders_topic}, or re-drive it with `python -m ops"
                " dead-letters redrive` if it was dead-lettered",
            )
        else:
            self._report(
                order,
                f"{order.status}, but Temporal has no {order.temporal_workflow_id} in namespace"
                f" {self._workflows.namespace} (past retention, or another namespace?); the"
                " consumer will not start it again while the row names it: needs a person",
            )

    def _compare_running(self, order: OrderRow, view: WorkflowView, *, idle: int) -> None:
        young = idle < self._stale_after
        state, wid = view.state, view.workflow_id
        if state is None:
            if young:
                self.tally[CATCHING_UP] += 1
            else:
                self._report(order, f"{order.status}; {wid} is running, but {view.problem}")
            return
        if state.status == order.status:
            return
        seen = f"row {order.status} (sequence {order.status_sequence}), running {wid} at"
        seen += f" {state.status} (sequence {state.sequence})"
        if order.status_sequence < state.sequence:
            if young:
                self.tally[CATCHING_UP] += 1
                return
            self._report(
                order,
                f"{seen}; the row unchanged for {idle}s: only the workflow's update_status"
                " activity may write it, and it keeps failing (see the worker's log)",
            )
        else:
            self._report(order, f"{seen}; the row is ahead: never written while it runs")

    async def _compare_closed(self, order: OrderRow, view: WorkflowView) -> None:
        wid = view.workflow_id
        if view.result is None:
            if not order.status.is_terminal:
                self._report(
                    order,
                    f"{order.status}, but {wid} {view.problem or 'closed ' + view.status}: the"
                    " order never ended, its compensation did not run (stock or money may be"
                    " held): needs a person",
                )
            return
        if view.result.status == order.status:
            return
        last = await self._workflows.last_recorded_change(view)
        if last is None:
            self._report(order, f"{order.status}, but {wid} ended {view.result.status}")
            return
        change = planned_change(order, last, datetime.now(UTC))
        await self._repair(
            order,
            f"row {order.status} (sequence {order.status_sequence}), but {wid} closed"
            f" {view.status} at {last.status} (sequence {last.sequence})",
            f"write {change.status} as status sequence {change.sequence}",
            lambda: self._records.record_status(change),
        )

    async def _repair(
        self, order: OrderRow, seen: str, fix: str, apply: Callable[[], Awaitable[None]]
    ) -> None:
        if self._options.dry_run:
            self.tally[WOULD_REPAIR] += 1
            self._line(order, f"{seen} -> would {fix} (dry run)")
            return
        await apply()
        self.tally[REPAIRED] += 1
        self._line(order, f"{seen} -> repaired: {fix}")

    def _report(self, order: OrderRow, seen: str) -> None:
        self.tally[REPORTED] += 1
        self._line(order, f"{seen} -> reported only")

    def _line(self, order: OrderRow, text: str) -> None:
        self._write(f"{order.order_ref} (order {order.id}): {text}")


def planned_change(order: OrderRow, last: StatusChange, now: datetime) -> StatusChange:
    """What to write so the row shows the workflow's last status (see the module docstring)."""
    if order.status_sequence < last.sequence:
        return last
    return last.model_copy(
        update={
            "sequence": order.status_sequence + 1,
            "previous_status": order.status,
            "occurred_at": now,
        }
    )


def _summary(checked: int, tally: Counter[str], namespace: str) -> str:
    labels = {
        REPAIRED: "repaired",
        WOULD_REPAIR: "to repair (dry run: nothing written)",
        REPORTED: "reported for a person",
        CATCHING_UP: "catching up (younger than --stale-after)",
    }
    parts = [f"{tally[key]} {label}" for key, label in labels.items() if tally[key]]
    found = ", ".join(parts) or "all consistent"
    return f"checked {checked} order(s) against namespace {namespace}: {found}"
