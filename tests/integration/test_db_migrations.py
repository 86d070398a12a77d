"""The schema: its migrations, the contract's tables and columns, and `python -m db`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import databases
import pytest

from db.connection import database_for
from db.demo_catalogue import load_demo_catalogue
from db.errors import MigrationError
from db.migrate import MIGRATIONS_DIRECTORY, apply_migrations, load_migrations
from tests.support.harness import Run, run_module

CONTRACT_COLUMNS = {
    "orders": {
        "id", "order_ref", "customer_id", "order_date", "status", "total_amount",
        "temporal_workflow_id", "created_at", "updated_at", "customer_email", "currency",
        "payment_method", "content_fingerprint", "failure_reason", "status_sequence",
    },
    "order_items": {"id", "order_id", "product_id", "quantity", "unit_price"},
    "products": {"id", "sku", "name", "price", "stock_quantity"},
    "stock_reservations": {"order_id", "product_id", "quantity", "reserved_at", "released_at"},
    "payments": {
        "order_id", "payment_id", "amount", "currency", "status", "captured_at", "refunded_at",
    },
    "notifications": {"order_id", "kind", "sent_at"},
    "order_status_history": {
        "order_id", "sequence", "previous_status", "status", "reason", "occurred_at",
    },
    "schema_migrations": {"version", "name", "checksum", "applied_at"},
    "status_outbox": {
        "id", "order_id", "sequence", "event_id", "event_type", "message_key", "payload",
        "headers", "created_at",
    },
    "outbox_relay_lease": {"name", "holder", "acquired_at"},
}  # fmt: skip
# Every shipped migration, in order: a fresh database gets them all.
SHIPPED = [migration.label for migration in load_migrations()]


async def _connected(url: str) -> databases.Database:
    database = database_for(url, max_size=2)
    await database.connect()
    return database


async def _columns(url: str) -> dict[str, dict[str, str]]:
    database = await _connected(url)
    try:
        rows = await database.fetch_all(
            "SELECT table_name AS t, column_name AS c, column_type AS type"
            " FROM information_schema.columns WHERE table_schema = DATABASE()"
        )
    finally:
        await database.disconnect()
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        tables.setdefault(str(row["t"]), {})[str(row["c"])] = str(row["type"]).lower()
    return tables


async def test_migrations_create_the_contracts_tables_and_columns(
    migrated_database_url: str,
) -> None:
    tables = await _columns(migrated_database_url)

    for table, columns in CONTRACT_COLUMNS.items():
        assert columns <= set(tables[table]), table
    assert tables["orders"]["status"] == (
        "enum('pending','validating','reserving_stock','processing_payment',"
        "'confirmed','completed','failed','cancelled')"
    )
    assert tables["orders"]["total_amount"] == "decimal(10,2)"
    assert tables["orders"]["order_ref"] == "varchar(64)"
    assert tables["products"]["price"] == "decimal(10,2)"
    assert tables["order_status_history"]["occurred_at"] == "datetime(3)"


async def test_running_migrations_again_applies_nothing_and_draws_no_server_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = await _connected(database_url)
    try:
        with caplog.at_level(logging.WARNING, logger="asyncmy"):
            first = await apply_migrations(database)
            second = await apply_migrations(database)
            await load_demo_catalogue(database)
            await load_demo_catalogue(database)
        recorded = await database.fetch_all("SELECT version, name FROM schema_migrations")
    finally:
        await database.disconnect()

    assert first[:2] == ["0001_initial", "0002_status_outbox"]
    assert first == SHIPPED
    assert second == []
    assert sorted((row["version"], row["name"]) for row in recorded) == [
        (migration.version, migration.name) for migration in load_migrations()
    ]
    assert caplog.records == []


async def test_concurrent_migration_runs_apply_each_migration_once(database_url: str) -> None:
    runners = [await _connected(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(runner) for runner in runners))
    finally:
        for runner in runners:
            await runner.disconnect()

    assert sorted(results) == [[], [], [], SHIPPED]


async def test_an_applied_migration_that_was_edited_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIRECTORY, directory)
    database = await _connected(database_url)
    try:
        await apply_migrations(database, directory)
        with (directory / "0001_initial.sql").open("a") as script:
            script.write("-- edited after it was applied\n")
        with pytest.raises(MigrationError, match="0001_initial was edited"):
            await apply_migrations(database, directory)
    finally:
        await database.disconnect()


async def test_a_failing_migration_names_itself_and_its_statement(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id INT PRIMARY KEY);\n")
    (tmp_path / "0002_broken.sql").write_text(
        "CREATE TABLE second_table (id INT PRIMARY KEY);\nCREATE TABLE first_table (id INT);\n"
    )
    database = await _connected(database_url)
    try:
        with pytest.raises(MigrationError, match="0002_broken failed at statement 2"):
            await apply_migrations(database, tmp_path)
        applied = await database.fetch_all("SELECT version FROM schema_migrations")
    finally:
        await database.disconnect()

    assert [row["version"] for row in applied] == [1]


async def test_a_catalogue_row_can_be_inserted_naming_only_the_contracts_columns(
    migrated_database_url: str,
) -> None:
    database = await _connected(migrated_database_url)
    try:
        await database.execute(
            "INSERT INTO products (id, sku, name, price, stock_quantity)"
            " VALUES (:id, :sku, :name, :price, :stock)",
            {"id": 41, "sku": "SKU-41", "name": "Plain product", "price": "3.50", "stock": 9},
        )
        stock = await database.fetch_val("SELECT stock_quantity FROM products WHERE id = 41")
    finally:
        await database.disconnect()

    assert stock == 9


async def _run_db_command(*arguments: str, database_url: str | None) -> Run:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        environment["DATABASE_URL"] = database_url
    return await run_module("db", environment, *arguments)


async def test_migrate_command_succeeds_twice_applying_nothing_the_second_time(
    database_url: str,
) -> None:
    first = await _run_db_command("migrate", database_url=database_url)
    second = await _run_db_command("migrate", database_url=database_url)

    assert first == (0, "".join(f"applied {label}\n" for label in SHIPPED), "")
    assert second == (0, "schema up to date: nothing to apply\n", "")


async def test_migrate_command_reports_an_unreachable_database_in_one_line_and_exits_2() -> None:
    url = "mysql+asyncmy://ordering:s3cret-pw@127.0.0.1:1/ordering_system"

    code, stdout, stderr = await _run_db_command("migrate", database_url=url)

    assert code == 2
    assert stdout == ""
    assert stderr.startswith("error: database unavailable: ")
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr
    assert "s3cret-pw" not in stderr


async def test_migrate_command_without_database_url_exits_2() -> None:
    code, _, stderr = await _run_db_command("migrate", database_url=None)

    assert (code, stderr) == (2, "error: DATABASE_URL is not set\n")


async def test_load_demo_catalogue_command_can_run_twice(migrated_database_url: str) -> None:
    for _ in range(2):
        code, stdout, _ = await _run_db_command(
            "load-demo-catalogue", database_url=migrated_database_url
        )
        assert code == 0
        assert stdout.endswith("demo catalogue loaded\n")
    database = await _connected(migrated_database_url)
    try:
        rows = await database.fetch_all("SELECT id, stock_quantity FROM products ORDER BY id")
    finally:
        await database.disconnect()

    assert [row["id"] for row in rows] == list(range(1, 9))
    assert 0 < rows[6]["stock_quantity"] <= 5
