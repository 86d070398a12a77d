"""Named fault-injection points: the fault suite ends or slows the consumer at an exact step.

These are test-only hooks. Unset, they do nothing. They read the environment themselves, the
one exception to the composition-root rule, so that a fault test can aim a crash at a point
deep inside the handler without the production wiring carrying test switches:

- `ORDERING_CRASH_AT=<name>` ends the process with exit code 86 when it reaches that point,
  at its `ORDERING_CRASH_AFTER`-th pass (default 1, counted per process), after writing
  `crash point <name> reached` to stderr. No cleanup runs, as with a power cut.
- `ORDERING_SLOW_HANDLER_SECONDS=<s>` makes each pass of `slow_point` sleep that long.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

CRASH_EXIT_CODE = 86

# The points the consumer defines, in the order an order passes them.
AFTER_INSERT = "after_insert"  # the order row is inserted, its workflow not started yet
AFTER_START = "after_start"  # the workflow is started, its id not written back to the row yet
BEFORE_COMMIT = "before_commit"  # the batch is handled, its offsets not committed yet

_passes: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """End the process at once if `ORDERING_CRASH_AT` names this point and its pass is due."""
    if os.environ.get("ORDERING_CRASH_AT") != name:
        return
    _passes[name] += 1
    if _passes[name] < int(os.environ.get("ORDERING_CRASH_AFTER", "1")):
        return
    sys.stderr.write(f"crash point {name} reached\n")
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)


async def slow_point() -> None:
    """Sleep `ORDERING_SLOW_HANDLER_SECONDS`, to make a handler slower than the poll interval."""
    seconds = float(os.environ.get("ORDERING_SLOW_HANDLER_SECONDS") or 0)
    if seconds > 0:
        await asyncio.sleep(seconds)
