"""`reconcile`: orders whose MySQL row disagrees with its own status history or with its
Temporal workflow, repaired where that is safe and reported where it takes a person. It looks
at orders not yet COMPLETED, FAILED or CANCELLED (--all: every order). A row changed less than
--stale-after seconds ago is left alone unless its workflow has closed: its own writes may
still be on their way.

MySQL holds the truth of an order: each step is one transaction that writes the order's row,
its status history line and its status event (the outbox) together, so the row always shows
its last history line, and a workflow's state and result are what the steps found in MySQL.
A row that differs from them was changed behind the system's back: edited by hand, or restored
from a backup.

Repaired (unless --dry-run):
- a row whose status differs from its own last history line (its status edited by hand): the
  row is given that line's status, reason and sequence again. Nothing else is written, and no
  event: the line's event went out when the line was written.
- a closed workflow of an order started before its steps ran in MySQL, whose row shows another
  status than its end: the row is given the last status the workflow recorded with its
  `update_status` activity. When the row's sequence is behind, that very change is written
  again (what the worker wrote; idempotent). When the row claims that sequence or a later one
  yet shows another status, the status is written under the row's next sequence.
- a row that does not name its workflow although `order-<id>` exists: the link is written.

Only reported:
- a closed workflow whose order's steps ran in MySQL, whose row (consistent with its history)
  shows another status than the workflow ended with: MySQL was set back behind the order's
  steps (a restored backup?), and its stock reservations and payment may be too; the
  workflow's result (status, reason, payment id) says where the order ended.
- a running workflow that the row lags, once the row is older than --stale-after: MySQL was
  set back behind the workflow (for an order started before its steps ran in MySQL: its
  `update_status` keeps failing, see the worker's log).
- a running workflow that the row is ahead of, once older than --stale-after: the workflow
  has not taken its last step's result, its workflow task is not completing (no worker
  polling, or one failing it: see the worker's log).
- a running workflow no worker answers about (get_order_state unanswered).
- a workflow that ended without finishing the order (terminated, timed out, failed): its
  compensation did not run, so stock or money may be held.
- an order with no workflow. When the row names none, the consumers' sweeper starts it from
  its sealed secrets within a minute (`consumer/sweeper.py`); reported here, it is one the
  sweeper cannot start (stored without its payment token: no payload key when it was stored),
  which re-publishing its OrderPlaced (or re-driving it from the dead-letter topic) starts. A
  row naming a workflow the namespace does not know (past retention?) needs a person.
- `order-<id>` running another order (its OrderRef differs): the database and the namespace
  do not belong together.

Exit code 0 when nothing is left to do, 1 when findings remain (all of them under --dry-run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from db.order_rows import OrderRow
from schemas.workflow_io import OrderWorkflowResult, StatusChange, workflow_id_for
from tools.ops.errors import EXIT_NOTHING, EXIT_OK
from tools.ops.orders import OrderRecords
from tools.ops.workflows import WorkflowAccess, WorkflowView

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
        self, records: OrderRecords, workflows: WorkflowAccess, options: Options, write: Write
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
        if not (young and view is not None and view.running):
            order = await self._match_history(order)
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

    async def _match_history(self, order: OrderRow) -> OrderRow:
        """The row as its last history line says it is, repaired when it says otherwise."""
        line = await self._records.last_status(order.id)
        if line is None or (line.status, line.sequence) == (order.status, order.status_sequence):
            return order
        restored = replace(
            order, status=line.status, status_sequence=line.sequence, failure_reason=line.reason
        )
        await self._repair(
            order,
            f"row {order.status} (sequence {order.status_sequence}), but its status history"
            f" ends {line.status} (sequence {line.sequence})",
            f"put the row back at {line.status} (sequence {line.sequence}) from its history",
            lambda: self._put_back(order.id),
        )
        return restored  # under --dry-run too: what follows is checked as if repaired

    async def _put_back(self, order_id: int) -> None:
        await self._records.put_back_status(order_id)

    def _missing_workflow(self, order: OrderRow, *, young: bool) -> None:
        if young:
            self.tally[CATCHING_UP] += 1
        elif order.temporal_workflow_id is None:
            self._report(
                order,
                f"{order.status} and no workflow was started, nor by the consumers' sweeper"
                " (stored without its sealed payment token?): re-publish its OrderPlaced to"
                f" {self._options.orders_topic}, or re-drive it with `python -m tools.ops"
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
        if (state.status, state.sequence) == (order.status, order.status_sequence):
            return
        seen = f"row {order.status} (sequence {order.status_sequence}), running {wid} at"
        seen += f" {state.status} (sequence {state.sequence})"
        if young:
            self.tally[CATCHING_UP] += 1
        elif order.status_sequence < state.sequence:
            self._report(
                order,
                f"{seen}; the row unchanged for {idle}s: MySQL was set back behind its workflow"
                " (a restore?), whose next step will not find the status it expects; for an"
                " order started before its steps ran in MySQL, its update_status keeps failing"
                " (see the worker's log): needs a person",
            )
        elif order.status_sequence > state.sequence:
            self._report(
                order,
                f"{seen}; the row unchanged for {idle}s: the workflow has not taken its last"
                " step's result, its workflow task is not completing (is a worker polling?"
                " see the worker's log)",
            )
        else:
            self._report(order, f"{seen}: the row and its history were edited; nothing written")

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
            self._set_back(order, view, view.result)
            return
        change = planned_change(order, last, datetime.now(UTC))
        await self._repair(
            order,
            f"row {order.status} (sequence {order.status_sequence}), but {wid} closed"
            f" {view.status} at {last.status} (sequence {last.sequence})",
            f"write {change.status} as status sequence {change.sequence}",
            lambda: self._records.record_status(change),
        )

    def _set_back(self, order: OrderRow, view: WorkflowView, result: OrderWorkflowResult) -> None:
        """A row behind (or beside) the closed workflow of an order whose steps ran in MySQL:
        what the order's steps wrote is lost from MySQL, so only a person can tell what to
        write, after looking at the stock and at the gateway's payment by the order's key."""
        ended = f"{result.status}" + (f" ({result.reason})" if result.reason else "")
        self._report(
            order,
            f"row {order.status} (sequence {order.status_sequence}), but {view.workflow_id}"
            f" closed {view.status} with the order {ended}, payment"
            f" {result.payment_id or 'none'}: MySQL was set back behind the order's steps (a"
            " restored backup?), its stock and payment rows may be too; nothing written:"
            " needs a person",
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
