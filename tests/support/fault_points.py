"""The worker's named fault points, as the fault tests arm them, and what each does when reached.

`ORDERING_FAULT=<point>:<mode>[,<point>:<mode>...]` arms them, one mode per point, in a worker
started as `python -m tests.support.faulty_worker` (`tests/support/faulty_ports.py` says which
port call each point follows or precedes). The points are named after the activities whose
effect they follow, and `status_relay` after the relay's. The modes:

- `crash_after_effect`: once the effect is in place, write `fault <point> crash_after_effect`
  to stderr and end the process with exit code 87, as a worker killed between its side effect
  and reporting it would. `ORDERING_FAULT_LIMIT` (default 1) caps the crashes of one process;
  0 disarms the mode.
- `fail_after_effect`: once the effect is in place, fail attempts 1 and 2 with a retryable
  error; attempt 3 and later succeed, so the step still ends within its 3 attempts.
- `slow:<seconds>`: sleep before the effect, announced as `fault <point> slow <s>s <workflow
  id>`, so a test can act while the call is in flight (reserve_stock and process_payment only).

`status_relay` sits between Kafka's acks for a batch of status events and the deletion of
their outbox rows; it takes `crash_after_effect` only (it runs in no activity, so it has no
attempts to fail).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

from temporalio import activity

CRASH_EXIT_CODE = 87
FAULT_VARIABLE = "ORDERING_FAULT"
LIMIT_VARIABLE = "ORDERING_FAULT_LIMIT"
ACTIVITIES = frozenset(
    {
        "update_status",
        "reserve_stock",
        "release_stock",
        "process_payment",
        "refund_payment",
        "send_order_confirmation",
    }
)
RELAY = "status_relay"
SLOWABLE = frozenset({"reserve_stock", "process_payment"})
_AFTER_EFFECT_MODES = {
    True: frozenset({"crash_after_effect", "fail_after_effect"}),
    False: frozenset({"crash_after_effect"}),
}
_FAILING_ATTEMPTS = 2


class InjectedFaultError(RuntimeError):
    """A `fail_after_effect` point's failure: retryable, as any unexpected error is."""


class Fault(NamedTuple):
    mode: str
    seconds: float = 0.0


class FaultPoints:
    """The points armed in one worker process, and the crashes it has left."""

    def __init__(self, armed: Mapping[str, Fault], crash_limit: int = 1) -> None:
        self._armed = dict(armed)
        self._crashes_left = crash_limit

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> FaultPoints:
        """The points `ORDERING_FAULT` arms, crashing at most `ORDERING_FAULT_LIMIT` times."""
        return cls(parse(env.get(FAULT_VARIABLE, "")), int(env.get(LIMIT_VARIABLE, "1")))

    async def before(self, point: str) -> None:
        """Before the effect: sleep when `point` is armed `slow`."""
        fault = self._armed.get(point)
        if fault is not None and fault.mode == "slow":
            workflow_id = activity.info().workflow_id or ""
            _announce(f"fault {point} slow {fault.seconds}s {workflow_id}")
            await asyncio.sleep(fault.seconds)

    def after(self, *points: str) -> None:
        """Right after the effect (done now or found done): each point's fault in turn."""
        for point in points:
            fault = self._armed.get(point)
            if fault is None:
                continue
            if fault.mode == "crash_after_effect" and self._crashes_left > 0:
                self._crashes_left -= 1
                _announce(f"fault {point} crash_after_effect")
                os._exit(CRASH_EXIT_CODE)  # no cleanup, no report to Temporal: as a kill
            if fault.mode == "fail_after_effect" and activity.info().attempt <= _FAILING_ATTEMPTS:
                raise InjectedFaultError(f"injected fault after the effect of {point}")


def parse(spec: str) -> dict[str, Fault]:
    """`update_status:fail_after_effect,process_payment:slow:1.5` → the fault of each point;
    `ValueError` for an unknown point or a mode it cannot take."""
    faults: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, mode = item.partition(":")
        mode, _, seconds = mode.partition(":")
        if name not in ACTIVITIES and name != RELAY:
            raise ValueError(f"{FAULT_VARIABLE}: no fault point named {name!r}")
        if mode == "slow" and name in SLOWABLE:
            faults[name] = Fault(mode, float(seconds))
        elif not seconds and mode in _AFTER_EFFECT_MODES[name in ACTIVITIES]:
            faults[name] = Fault(mode)
        else:
            raise ValueError(f"{FAULT_VARIABLE}: cannot apply {item!r}")
    return faults


def _announce(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
