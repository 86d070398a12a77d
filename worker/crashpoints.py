"""Named fault points in the activities, a hook for the reliability tests only.

`ORDERING_FAULT=<activity>:<mode>[,<activity>:<mode>...]` arms them, one mode per activity;
unset (always, in production) every point returns at once and does nothing. The modes:

- `crash_after_effect`: once the activity's effect is in place, write
  `fault <activity> crash_after_effect` to stderr and end the process with exit code 87,
  as a worker killed between its side effect and reporting it would. `ORDERING_FAULT_LIMIT`
  (default 1) caps the crashes of one process; 0 disarms the mode.
- `fail_after_effect`: once the effect is in place, fail attempts 1 and 2 with a retryable
  error; attempt 3 and later succeed, so the step still ends within its 3 attempts.
- `slow:<seconds>`: sleep before the effect, so a test can act while the call is in flight
  (only activities with a before-effect point: reserve_stock and process_payment).

Besides the activities, `status_relay` marks the relay's point between Kafka's acks for a
batch of status events and the deletion of their outbox rows; it takes `crash_after_effect`
only.

Unlike the rest of the library, this module reads the environment itself, and only when a
point is reached: the hook must reach into the activities of a worker started as users start
it, without a setting or a parameter in the production path.
"""

from __future__ import annotations

import asyncio
import os
import sys
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
# The relay's point is not in an activity: it has no attempts to fail.
_AFTER_EFFECT_MODES = {
    True: frozenset({"crash_after_effect", "fail_after_effect"}),
    False: frozenset({"crash_after_effect"}),
}
_FAILING_ATTEMPTS = 2

_crashes = 0


class _Fault(NamedTuple):
    mode: str
    seconds: float


async def fault_point(activity_name: str, *, before_effect: bool = False) -> None:
    """Apply the fault armed for `activity_name` (or `RELAY`) at this point, if any; by
    default the point sits after the effect (done now or found done) and before it returns."""
    spec = os.environ.get(FAULT_VARIABLE)
    if not spec:
        return
    fault = _faults(spec).get(activity_name)
    if fault is None:
        return
    if before_effect:
        if fault.mode == "slow":
            _announce(f"fault {activity_name} slow {fault.seconds}s {_workflow_id()}")
            await asyncio.sleep(fault.seconds)
    elif fault.mode == "crash_after_effect":
        _crash(activity_name)
    elif fault.mode == "fail_after_effect" and activity.info().attempt <= _FAILING_ATTEMPTS:
        raise RuntimeError("injected fault after effect")


def _faults(spec: str) -> dict[str, _Fault]:
    faults: dict[str, _Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, mode = item.partition(":")
        mode, _, seconds = mode.partition(":")
        if name not in ACTIVITIES and name != RELAY:
            raise ValueError(f"{FAULT_VARIABLE}: no fault point named {name!r}")
        if mode == "slow" and name in SLOWABLE:
            faults[name] = _Fault(mode, float(seconds))
        elif not seconds and mode in _AFTER_EFFECT_MODES[name in ACTIVITIES]:
            faults[name] = _Fault(mode, 0.0)
        else:
            raise ValueError(f"{FAULT_VARIABLE}: cannot apply {item!r}")
    return faults


def _crash(activity_name: str) -> None:
    global _crashes
    if _crashes >= int(os.environ.get(LIMIT_VARIABLE, "1")):
        return
    _crashes += 1
    _announce(f"fault {activity_name} crash_after_effect")
    os._exit(CRASH_EXIT_CODE)  # no cleanup, no report to Temporal: as a kill would leave it


def _announce(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _workflow_id() -> str:
    return activity.info().workflow_id or ""
