"""The floor: what the physical work of one order costs, with nothing around it.

Three bare parts, each metered on its own and summed: Temporal (an empty workflow started and
completed by one workflow task: the server, the no-op worker and the starting script), MySQL
(the statements of one order on one connection: MariaDB and the script) and Kafka (the order's
record and its six status events produced and consumed once: the broker and the script). The
scripts stand in for the consumer and the worker, so their CPU counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.bench.bare import WARM_UP, meter_script
from tools.bench.cpu import KAFKA, MARIADB, TEMPORAL, CpuCost
from tools.bench.fresh import fresh_setup
from tools.bench.server import server_quiet
from tools.bench.watch import Watch

NOOP_WORKER = "noop-worker"


@dataclass(frozen=True)
class Floor:
    parts: dict[str, CpuCost]  # "temporal", "mysql", "kafka": CPU per order of each

    @property
    def ms(self) -> float:
        return sum(part.stack_ms() for part in self.parts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "ms": self.ms,
            "parts_ms": {name: part.stack_ms() for name, part in self.parts.items()},
            "cpu_ms": {name: part.ms_per_item for name, part in self.parts.items()},
        }


async def measure_floor(watch: Watch, base: dict[str, str], count: int) -> Floor:
    await server_quiet(watch)
    async with fresh_setup(base, stock=(count + WARM_UP) * 2 + 10) as setup:
        env = setup.env
        watch.start(NOOP_WORKER, "tools.bench.noop_worker", env, env["ORDERING_TASK_QUEUE"])
        try:
            with_it = watch.processes(NOOP_WORKER, TEMPORAL)
            temporal = await meter_script(
                watch, "tools.bench.bare_temporal", env, count, with_it, ()
            )
        finally:
            watch.stop(NOOP_WORKER)
        mysql = await meter_script(watch, "tools.bench.bare_sql", env, count, {}, (MARIADB,))
        kafka = await meter_script(watch, "tools.bench.bare_kafka", env, count, {}, (KAFKA,))
    return Floor({"temporal": temporal, "mysql": mysql, "kafka": kafka})
