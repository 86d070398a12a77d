"""The floor's bare scripts, and how the bench meters one: from its `ready` to its `done`.

Each script (`tools.bench.bare_sql`, `tools.bench.bare_kafka`, `tools.bench.bare_temporal`)
connects and warms up,
says `ready` on stdout, does the measured work, says `done`, and exits when the bench closes its
stdin. So its start-up and warm-up stay out of the figure, and the bench reads its CPU time
while it still runs.
"""

from __future__ import annotations

import subprocess
import sys

from tools.bench.cpu import CpuCost, CpuMeter, processes
from tools.bench.watch import Watch

READY, DONE = "ready", "done"
WARM_UP = 20  # orders each script runs through before `ready`
LIMIT_SECONDS = 600


def say(word: str) -> None:
    """The script's side: tell the bench where it is."""
    print(word, flush=True)


def wait_for_release() -> None:
    """The script's side: block until the bench closes stdin (it has read the CPU time)."""
    sys.stdin.read()


async def meter_script(
    watch: Watch,
    module: str,
    env: dict[str, str],
    count: int,
    with_it: dict[str, subprocess.Popen[bytes]],
    servers: tuple[str, ...],
) -> CpuCost:
    """Run `python -m module count` and return what its measured part cost it, the processes
    `with_it` and the local stack's `servers`, per order."""
    name = module.rsplit(".", 1)[-1]
    script = watch.start(name, module, env, str(count), stdio=True)
    try:
        await _expect(watch, name, READY)
        meter = CpuMeter(processes({name: script, **with_it}, *servers))
        await _expect(watch, name, DONE)
        return meter.cost(count)
    finally:
        if script.stdin is not None:
            script.stdin.close()
        watch.stop(name)


async def _expect(watch: Watch, name: str, word: str) -> None:
    line = await watch.line(name)
    if line != word:
        raise RuntimeError(f"{name} said {line!r} where the bench expected {word!r}")
