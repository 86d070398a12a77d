"""What a round's orders ask of the MySQL primary, from the server's own counters: the figures
that say how many orders one primary carries, and when the order tables must be sharded."""

from __future__ import annotations

from dataclasses import dataclass

import databases

# Server-wide counters (`SHOW GLOBAL STATUS`), read before and after a round's measured part.
# Nothing but the round's consumer and worker speaks to the server meanwhile.
COUNTERS = {
    "transactions": ("Com_commit",),
    "statements": ("Com_select", "Com_insert", "Com_update", "Com_delete"),
    "rows written": ("Handler_write", "Handler_update", "Handler_delete"),
    "redo log bytes": ("Innodb_os_log_written",),
    "log flushes": ("Innodb_data_fsyncs",),
}
_NAMES = sorted({name for names in COUNTERS.values() for name in names})
_READ = f"SHOW GLOBAL STATUS WHERE Variable_name IN ({', '.join(repr(n) for n in _NAMES)})"


@dataclass(frozen=True)
class Counters:
    values: dict[str, int]

    def per_item(self, later: Counters, items: int) -> dict[str, float]:
        """Each figure of `COUNTERS` per item, from these counters to `later` ones."""
        return {
            figure: sum(later.values[n] - self.values[n] for n in names) / items
            for figure, names in COUNTERS.items()
        }


async def read_counters(url: str) -> Counters:
    async with databases.Database(url) as database:
        records = await database.fetch_all(_READ)
    found = {str(record[0]): int(record[1]) for record in records}
    missing = sorted(set(_NAMES) - set(found))
    if missing:
        raise RuntimeError(f"the MySQL server does not report {', '.join(missing)}")
    return Counters(found)
