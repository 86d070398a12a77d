"""The one oracle every fault test ends with: nothing lost, nothing doubled, all consistent.

After a run settles, for what the test published and Kafka acknowledged:
- every order is exactly one row with exactly one workflow run, closed in the row's status;
- every message that cannot be an order is exactly one dead letter, with the expected reason;
- stock is the initial stock minus what orders not FAILED/CANCELLED hold, never below zero;
- no order keeps money it should not: a COMPLETED order's payment is CAPTURED, with one
  confirmation; a FAILED or CANCELLED one has no payment, a DECLINED one or a REFUNDED one,
  never one still INTENDED (a capture in doubt) or CAPTURED; one payment row per order;
- status events per order carry sequence 1..n with no gap (a repeat has the same event_id and
  the same content), each first arriving after the one before it, and MySQL's status is the
  last event's.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from tests.support.pipeline import CATALOGUE, Pipeline

CLOSED = {"COMPLETED", "FAILED", "CANCELLED"}
# What an order that did not complete may have of a payment: none, one the gateway declined
# (nothing taken), or one refunded. INTENDED (a capture in doubt) or CAPTURED keeps money.
_GIVEN_BACK = frozenset({None, "DECLINED", "REFUNDED"})


@dataclass
class Expected:
    """What the test published: the refs that must be orders, the reasons of dead letters."""

    orders: set[str] = field(default_factory=set)
    dead_letters: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, str] = field(default_factory=dict)  # ref -> final status, where known


async def check(pipeline: Pipeline, expected: Expected) -> list[str]:
    """Every violation of the guarantees, as readable lines; an empty list means all hold."""
    problems: list[str] = []
    rows = {
        r["order_ref"]: r
        for r in map(
            dict, (x._mapping for x in await pipeline.database.fetch_all("SELECT * FROM orders"))
        )
    }
    if set(rows) != expected.orders:
        problems.append(
            f"orders: missing {sorted(expected.orders - set(rows))}, "
            f"unexpected {sorted(set(rows) - expected.orders)}"
        )
    for ref, row in rows.items():
        problems += await _check_order(pipeline, ref, row, expected.statuses.get(ref))
    problems += await _check_dead_letters(pipeline, expected.dead_letters)
    problems += await _check_stock(pipeline, rows)
    problems += await _check_money(pipeline, rows)
    return problems


async def _check_order(
    pipeline: Pipeline, ref: str, row: dict[str, Any], final: str | None
) -> list[str]:
    problems = []
    workflow_id = f"order-{row['id']}"
    if row["temporal_workflow_id"] != workflow_id:
        problems.append(f"{ref}: temporal_workflow_id {row['temporal_workflow_id']!r}")
    runs = await _settled_runs(pipeline, workflow_id)
    if len(runs) != 1:
        problems.append(f"{ref}: {len(runs)} workflow runs")
    elif runs[0] != WorkflowExecutionStatus.COMPLETED:
        problems.append(f"{ref}: workflow run is {runs[0]}")
    if row["status"] not in CLOSED:
        problems.append(f"{ref}: still {row['status']}")
    if final is not None and row["status"] != final:
        problems.append(f"{ref}: {row['status']}, expected {final}")
    events = pipeline.statuses.by_ref.get(ref, [])
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        earlier = by_id.setdefault(event["event_id"], event)
        if earlier != event:
            problems.append(f"{ref}: event {event['event_id']} repeated with other content")
    sequences = sorted(e["sequence"] for e in by_id.values())
    if sequences != list(range(1, len(sequences) + 1)):
        problems.append(f"{ref}: sequences {sequences}")
    # Repeats may come late; an event's first copy never comes before an earlier status's.
    first_arrivals = list(dict.fromkeys(e["sequence"] for e in events))
    if first_arrivals != sorted(first_arrivals):
        problems.append(f"{ref}: first arrivals in the order {first_arrivals}")
    if by_id:
        last = max(by_id.values(), key=lambda e: e["sequence"])
        if last["status"] != row["status"]:
            problems.append(f"{ref}: MySQL says {row['status']}, last event {last['status']}")
    else:
        problems.append(f"{ref}: no status events")
    return problems


async def _settled_runs(
    pipeline: Pipeline, workflow_id: str, within: float = 60
) -> list[WorkflowExecutionStatus | None]:
    """The statuses of every run of `workflow_id`, once none is running (the status event of
    the last step is out a moment before its workflow closes, and visibility lags)."""
    query = f"WorkflowId = '{workflow_id}'"
    async with asyncio.timeout(within):
        while True:
            runs = [run.status async for run in pipeline.temporal.list_workflows(query)]
            if runs and WorkflowExecutionStatus.RUNNING not in runs:
                return runs
            await asyncio.sleep(0.2)


async def _check_dead_letters(pipeline: Pipeline, expected: Counter[str]) -> list[str]:
    records = await pipeline.dead_letters(expected=sum(expected.values()), within=60)
    found = Counter(dict(r.headers)["dlq.reason"].decode() for r in records)
    return [] if found == expected else [f"dead letters {dict(found)}, expected {dict(expected)}"]


async def _check_stock(pipeline: Pipeline, rows: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    held: Counter[int] = Counter()
    reserved = await _per_order(
        pipeline,
        "SELECT order_id, product_id, quantity FROM stock_reservations WHERE released_at IS NULL",
    )
    items = await _per_order(pipeline, "SELECT order_id, product_id, quantity FROM order_items")
    for ref, row in rows.items():
        holds = Counter() if row["status"] in {"FAILED", "CANCELLED"} else items[row["id"]]
        held += holds
        # What an ended order holds is exactly its reservations not yet released.
        if row["status"] in CLOSED and reserved[row["id"]] != holds:
            problems.append(f"{ref}: {row['status']} holding {dict(reserved[row['id']])}")
    for product_id, *_, initial in CATALOGUE:
        stock = await pipeline.stock(product_id)
        if stock != initial - held[product_id] or stock < 0:
            problems.append(
                f"product {product_id}: stock {stock}, expected {initial} - {held[product_id]}"
            )
    return problems


async def _per_order(pipeline: Pipeline, sql: str) -> defaultdict[int, Counter[int]]:
    """order id -> product id -> quantity, summed over the rows `sql` selects."""
    quantities: defaultdict[int, Counter[int]] = defaultdict(Counter)
    for record in await pipeline.database.fetch_all(sql):
        row = record._mapping
        quantities[int(row["order_id"])][int(row["product_id"])] += int(row["quantity"])
    return quantities


async def _check_money(pipeline: Pipeline, rows: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    payment_rows = await pipeline.database.fetch_all("SELECT order_id, status FROM payments")
    payments = {int(p._mapping["order_id"]): p._mapping["status"] for p in payment_rows}
    rows_per_order = Counter(int(p._mapping["order_id"]) for p in payment_rows)
    notices = Counter(
        int(n._mapping["order_id"])
        for n in await pipeline.database.fetch_all("SELECT order_id FROM notifications")
    )
    for ref, row in rows.items():
        payment = payments.get(row["id"])
        if row["status"] == "COMPLETED" and (payment != "CAPTURED" or notices[row["id"]] != 1):
            problems.append(
                f"{ref}: COMPLETED with payment {payment}, {notices[row['id']]} notices"
            )
        if row["status"] in {"FAILED", "CANCELLED"} and payment not in _GIVEN_BACK:
            problems.append(f"{ref}: {row['status']} but payment still {payment}")
        if rows_per_order[row["id"]] > 1:
            problems.append(f"{ref}: {rows_per_order[row['id']]} payment rows")
        if notices[row["id"]] > 1:
            problems.append(f"{ref}: {notices[row['id']]} confirmations")
    return problems


def describe(problems: list[str]) -> str:
    return json.dumps(problems, indent=1)
