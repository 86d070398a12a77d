"""The operator tools' edges: help, unknown orders and dead letters, unreachable services and
bad configuration each end in one clear line and the documented exit code."""

from __future__ import annotations

import asyncio

from tests.conftest import Topics
from tests.support.harness import Run, process_env
from tests.support.harness import run_ops as ops
from tests.support.services import Endpoints

SERVICE_VARIABLES = ("DATABASE_URL", "TEMPORAL_ADDRESS", "KAFKA_BOOTSTRAP_SERVERS")


def services_env(endpoints: Endpoints, database_url: str, topics: Topics) -> dict[str, str]:
    return process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap,
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
        ORDERS_TOPIC=topics.orders,
        DLQ_TOPIC=topics.dlq,
    )


def assert_one_line(run: Run) -> None:
    assert "Traceback" not in run.err, run.err
    assert run.err.count("\n") == 1, run.err


async def test_every_command_explains_itself_with_help() -> None:
    env = {k: v for k, v in process_env({}).items() if k not in SERVICE_VARIABLES}
    commands = [(), ("inspect",), ("dead-letters", "redrive"), ("reconcile",)]

    runs = await asyncio.gather(*(ops(env, *command, "--help") for command in commands))

    assert [run.code for run in runs] == [0] * len(commands)
    assert all(run.out.startswith("usage: python -m tools.ops") for run in runs)
    assert all("exit codes:" in run.out for run in runs)
    reconcile = runs[commands.index(("reconcile",))].out
    assert "Repaired (unless --dry-run)" in reconcile
    assert "Only reported" in reconcile
    assert "the consumers' sweeper starts it" in reconcile


async def test_unknown_orders_and_dead_letters_are_not_found_and_nothing_is_done(
    endpoints: Endpoints, migrated_database_url: str, topics: Topics
) -> None:
    env = services_env(endpoints, migrated_database_url, topics)

    unknown, by_id, cancel, reconcile, listing, redrive = await asyncio.gather(
        ops(env, "inspect", "no-such-order"),
        ops(env, "inspect", "123", "--json"),
        ops(env, "force-status", "no-such-order", "cancelled"),
        ops(env, "reconcile"),
        ops(env, "dead-letters", "list"),
        ops(env, "dead-letters", "redrive", "--offset", "0:5", "--dry-run"),
    )

    assert (unknown.code, unknown.out, unknown.err) == (
        1,
        "",
        "ops: no order has ref or id 'no-such-order'\n",
    )
    assert (by_id.code, by_id.err) == (1, "ops: no order has ref or id '123'\n")
    assert (cancel.code, cancel.err) == (1, "ops: no order has ref or id 'no-such-order'\n")
    assert reconcile.code == 0, reconcile.err
    assert (
        reconcile.out
        == f"checked 0 order(s) against namespace {endpoints.namespace}: all consistent\n"
    )
    assert listing.code == 0, listing.err
    assert listing.out == f"{topics.dlq}: 0 dead letter(s)\n"
    assert (redrive.code, redrive.err) == (1, "ops: no dead letter at 0:5: nothing re-driven\n")


async def test_unreachable_services_and_bad_configuration_end_in_one_line_and_exit_2(
    endpoints: Endpoints, migrated_database_url: str, topics: Topics
) -> None:
    env = services_env(endpoints, migrated_database_url, topics)
    secret_url = "mysql+asyncmy://app:secret-pw@127.0.0.1:1/orders"
    cases = [
        ({"DATABASE_URL": secret_url}, ("inspect", "x"), "ops: MySQL: database unavailable"),
        ({"DATABASE_URL": "postgresql://app:secret-pw@db/orders"}, ("reconcile",), "DATABASE_URL"),
        ({"TEMPORAL_ADDRESS": "127.0.0.1:1"}, ("cancel", "x"), "ops: Temporal at 127.0.0.1:1"),
        ({"TEMPORAL_NAMESPACE": "no-such-namespace"}, ("inspect", "x"), "no namespace"),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
            ("dead-letters", "list"),
            "ops: Kafka at 127.0.0.1:1 cannot be reached",
        ),
        ({"OPS_TIMEOUT_SECONDS": "soon"}, ("reconcile",), "configuration: ops_timeout_seconds"),
    ]
    unset = {k: v for k, v in env.items() if k != "DATABASE_URL"}

    runs = await asyncio.gather(
        *(ops({**env, **changes}, *args) for changes, args, _ in cases),
        ops(unset, "inspect", "x"),
    )

    expected = [says for _, _, says in cases] + ["DATABASE_URL is not set"]
    for run, says in zip(runs, expected, strict=True):
        assert run.code == 2, (says, run.err)
        assert_one_line(run)
        assert says in run.err
        assert "secret-pw" not in run.err
    missing_topic = await ops({**env, "DLQ_TOPIC": f"{topics.dlq}.missing"}, "dead-letters", "list")
    assert (missing_topic.code, missing_topic.err) == (
        1,
        f"ops: Kafka has no topic {topics.dlq}.missing\n",
    )


async def test_a_database_without_the_schema_says_to_migrate_it(
    endpoints: Endpoints, database_url: str, topics: Topics
) -> None:
    run = await ops(services_env(endpoints, database_url, topics), "reconcile")

    assert run.code == 2
    assert_one_line(run)
    assert "run `python -m db migrate`" in run.err
