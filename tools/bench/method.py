"""The report's last sections: how each figure is measured, the settings it ran with, and the
machine."""

from __future__ import annotations

from typing import Any

from tools.bench.effects import EXPECTED_PER_ORDER
from tools.bench.pipeline import WARM_UP


def sections(results: dict[str, Any]) -> list[str]:
    return [
        "## How each figure is measured",
        "",
        *_method(results["sizes"]),
        *_stages(results["backlog"]),
        "",
        "## Settings",
        "",
        *_settings(results["machine"]),
        "",
        "## Machine",
        "",
        *_machine(results["machine"]),
    ]


def _method(sizes: dict[str, Any]) -> list[str]:
    return [
        "- **CPU per order**: the CPU time (user and system) of the stack's own processes (the "
        "Temporal server, the Kafka broker, MariaDB, the consumer and the worker) over a "
        "stage's measured part, divided by its orders. The bench's own load generator and "
        "status reader are metered too and shown apart, never counted. Kafka and MariaDB are "
        "the local stack's, which other work on the machine may use meanwhile.",
        f"- **Floor** ({sizes['floor']} orders a part): the physical work of one order with "
        "nothing around it, three bare parts metered one after the other and summed. Temporal: "
        "an empty workflow started (32 at once, as the consumer starts orders) and completed by "
        "its one workflow task on a no-op worker: the server, the worker and the starting "
        "script. MySQL: the statements the consumer and the worker issue for one order, as "
        "`db/` writes them, one order at a time on one connection: MariaDB and the script. "
        "Kafka: the order's record and its six status events produced once (idempotent, "
        "acks from all replicas) and consumed once: the broker and the script. The scripts "
        "stand in for the consumer and the worker, so their CPU counts. Its events go straight "
        "to Kafka: the status outbox and its relay are the design's, and count as overhead.",
        f"- **Rounds** ({sizes['pairs']} pairs of {sizes['orders']} orders, preceded each by "
        "a floor): the seed-shaped pipeline and the shipped one in alternation, the first of "
        "each pair alternating too, on the same Temporal server. Each round has a database, "
        "topics and a task queue of its own, starts the project's consumer and a worker, runs "
        f"{WARM_UP} orders through to warm them up, then publishes its orders as fast as Kafka "
        "takes them. Its rate is its orders over the span from the first publish to the last "
        "COMPLETED event; its CPU runs until the last workflow has closed.",
        "- **Seed-shaped pipeline**: `tools/bench/seed_workflow.py`, the seed design ported "
        "straight: "
        "a regular `update_status` activity per status and validation, stock, payment and the "
        "confirmation each a regular activity, the OrderStatus search attribute upserted at "
        "every status, on a worker built as the project's is, from the same activity classes "
        "(`tools/bench/seed_worker.py`), behind the project's consumer.",
    ]


def _stages(backlog: dict[str, Any]) -> list[str]:
    rows = ", ".join(f"{name} {n}" for name, n in EXPECTED_PER_ORDER.items())
    return [
        f"- **Same work on both sides**: every round checks the rows its orders left in MySQL, "
        f"per order ({rows}), that each order's status events carry sequences 1 to 6, and, "
        "for a seed round, that its orders ran ten activities.",
        "- **vs_seed**: the pipeline's orders per CPU-second over the seed-shaped one's, that "
        "is the seed's CPU per order over the pipeline's, pair by pair. **overhead**: the "
        "pipeline's CPU per order over the floor measured just before it.",
        "- **Latency**: a last round of the pipeline, its orders published open-loop at half "
        "the median rate of the rounds; from each order's publish to its COMPLETED event's "
        "`occurred_at`.",
        f"- **Backlog** ({backlog['orders']} orders): published with nothing running, then the "
        "consumer and the worker started together. The completions, in time order, fall into "
        "fifths; a fifth's rate is its completions over the time from the last completion of "
        "the fifth before (for the first, from the first completion, so start-up is left out) "
        "to its own last. The ratio is the first fifth's rate over the last's. Open orders "
        "(stored, not yet COMPLETED, FAILED or CANCELLED) are counted in MySQL once a second; "
        "the consumer's and the worker's resident memory is sampled as often and checked "
        "against the kernel's high-water mark (VmHWM).",
    ]


def _settings(described: dict[str, Any]) -> list[str]:
    dynamic = ", ".join(f"`{value}`" for value in described.get("temporal_dynamic_config", []))
    return [
        "- Temporal: a dev server of the run's own, started on an empty SQLite file "
        "(`journal_mode=wal`, `synchronous=normal`), the namespace and its search attributes "
        f"registered at start, with {dynamic or 'the CLI defaults'} (the search-attribute cache "
        "on, as in production; the CLI turns it off and reads SQLite on every lookup). Nothing "
        "the test suite or earlier runs left weighs on it.",
        "- The consumer and the worker with their defaults (the worker 100 workflow tasks and "
        "100 activities at once, the consumer 32 orders at once, 500 records a batch, "
        "10 MySQL connections each), logging at WARNING and their metrics ports off.",
    ]


def _machine(described: dict[str, Any]) -> list[str]:
    load = ", ".join(map(str, described["load_average_at_start"]))
    return [
        f"- {described['cpus']} CPUs ({described['cpu_model']}), "
        f"{described['memory_gb']} GB of memory; load average {load} when the run began "
        "(whatever else runs shares the CPUs with the stack and the bench)",
        f"- code at commit {described['commit']}",
        f"- Python {described['python']} on {described['system']}",
        f"- Temporal: {described['temporal']}",
        "- Kafka and MariaDB of the local stack (`make stack-up`), all on the same machine",
    ]
