"""`python -m tests.support.faulty_worker`: `python -m worker` with the fault points that
`ORDERING_FAULT` arms (`tests.support.fault_points`) wrapped around its ports.

It serves one process: with `WORKER_PROCESSES` above 1 the worker would start plain
`python -m worker` children, none of them faulty, so it refuses to start.
"""

from __future__ import annotations

import asyncio
import os
import sys

from runtime.exit import exit_now
from tests.support.fault_points import FaultPoints
from tests.support.faulty_ports import (
    FaultyEventSender,
    FaultyGateway,
    FaultyInventory,
    FaultyNotifications,
    FaultyPayments,
    FaultyStatusStore,
    FaultyStepStore,
)
from worker.__main__ import main
from worker.port_wrappers import PortWrappers

NOT_ONE_PROCESS = 2


def faulty(points: FaultPoints) -> PortWrappers:
    """Every port the fault points sit at, wrapped."""
    return PortWrappers(
        step_store=lambda store: FaultyStepStore(store, points),
        status_store=lambda store: FaultyStatusStore(store, points),
        inventory=lambda inventory: FaultyInventory(inventory, points),
        payments=lambda payments: FaultyPayments(payments, points),
        notifications=lambda notifications: FaultyNotifications(notifications, points),
        payment_gateway=lambda gateway: FaultyGateway(gateway, points),
        event_sender=lambda sender: FaultyEventSender(sender, points),
    )


def run() -> int:
    if os.environ.get("WORKER_PROCESSES", "1") != "1":
        sys.stderr.write("faulty_worker: the fault points reach one process; WORKER_PROCESSES=1\n")
        return NOT_ONE_PROCESS
    points = FaultPoints.from_environment(os.environ)
    return asyncio.run(main(wrappers=faulty(points)))


if __name__ == "__main__":
    exit_now(run())
