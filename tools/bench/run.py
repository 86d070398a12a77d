"""Every stage of one run, in order, on the bench's own Temporal server."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from tools.bench import machine
from tools.bench.backlog import drain_backlog
from tools.bench.pipeline import run_round
from tools.bench.report import elapsed
from tools.bench.rounds import alternate, figures
from tools.bench.server import fresh_server
from tools.bench.watch import Watch


@dataclass(frozen=True)
class Sizes:
    pairs: int  # of alternating rounds, seed-shaped and shipped
    orders: int  # per round
    floor: int  # orders of each bare part of the floor
    latency: int  # orders at half rate
    backlog: int


# A round's CPU per order is an average over its 600 orders; what moves it is the machine
# (rounds of one run differ by up to ±15% on two shared cores), so five pairs, whose median
# two runs repeat within a few per cent, in about a quarter of an hour.
FULL = Sizes(pairs=5, orders=600, floor=600, latency=600, backlog=3000)
QUICK = Sizes(pairs=2, orders=100, floor=100, latency=60, backlog=200)

# The processes' settings the bench overrides: quiet logs, no metrics ports to clash on, and
# its own server, which speaks plain gRPC whatever the environment says of another one.
PROCESS_SETTINGS = {"LOG_LEVEL": "WARNING", "METRICS_PORT": "0", "TEMPORAL_METRICS_PORT": "0"}
FOREIGN_TEMPORAL = ("TEMPORAL_TLS", "TEMPORAL_API_KEY")


async def run(sizes: Sizes, quick: bool, watch: Watch) -> dict[str, Any]:
    base = stack_env()
    async with fresh_server(watch, base["TEMPORAL_NAMESPACE"]) as server:
        described = machine.describe(server.database)
        env = base | PROCESS_SETTINGS | {"TEMPORAL_ADDRESS": server.address}
        pairs = await alternate(watch, env, sizes.pairs, sizes.orders, sizes.floor)
        measured = figures(pairs)
        half = measured["pipeline_orders_per_s"]["median"] / 2
        latency = await run_round(watch, env, "pipeline", sizes.latency, rate=half)
        print(f"bench: latency at half rate: p99={latency.summary()['latency_ms']['p99']:.0f} ms")
        backlog = await drain_backlog(watch, env, sizes.backlog)
        print(f"bench: backlog: first/last fifth={backlog['first_over_last']:.2f} ({elapsed()})")
    return {
        "quick": quick,
        "sizes": asdict(sizes),
        "machine": described,
        "figures": measured,
        "pairs": [pair.summary() for pair in pairs],
        "half_rate": {"offered_per_s": half} | latency.summary(),
        "backlog": backlog,
    }


def stack_env() -> dict[str, str]:
    """The bench's environment with the local stack's endpoints (`make bench` sources them)."""
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not set; run it with `make bench`")
    kept = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_TEMPORAL)}
    return kept | {"TEMPORAL_NAMESPACE": os.environ.get("TEMPORAL_NAMESPACE", "ordering-system")}
