"""Versioned SQL migrations, applied once each, in order, under a server-side lock."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databases
from asyncmy import errors as driver

from db.connection import connection, translate_errors
from db.errors import MigrationError

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
LOCK_TIMEOUT_SECONDS = 60

_CREATE_LEDGER = """
CREATE TABLE schema_migrations (
  version INT NOT NULL,
  name VARCHAR(255) NOT NULL,
  checksum CHAR(64) NOT NULL,
  applied_at DATETIME(6) NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""
# Lock names are server-wide; hashing the schema name keeps runs against other databases on
# the same server from waiting for each other, and stays within the 64-character limit.
_LOCK_NAME = "CONCAT('schema_migrations.', MD5(DATABASE()))"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    checksum: str
    statements: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Path = MIGRATIONS_DIRECTORY) -> list[Migration]:
    """The migration files of a directory, in version order."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected a name like 0001_initial.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"two migrations share version {version:04d}")
        content = path.read_bytes()
        migrations[version] = Migration(
            version=version,
            name=match["name"],
            checksum=hashlib.sha256(content).hexdigest(),
            statements=split_statements(content.decode("utf-8")),
        )
    return [migrations[version] for version in sorted(migrations)]


def split_statements(script: str) -> tuple[str, ...]:
    """One statement per `;` at the end of a line; whole-line `--` comments are dropped.

    A rule this plain cannot be fooled by quoting, so migrations keep to it rather than
    relying on a parser of MySQL's grammar.
    """
    statements: list[str] = []
    pending: list[str] = []
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(pending).strip().removesuffix(";").strip()
            if statement:
                statements.append(statement)
            pending = []
    if "\n".join(pending).strip():
        raise MigrationError("the last statement does not end with ';' at the end of a line")
    return tuple(statements)


async def apply_migrations(
    database: databases.Database, directory: Path = MIGRATIONS_DIRECTORY
) -> list[str]:
    """Apply the migrations not applied yet; returns their labels, empty when up to date."""
    migrations = load_migrations(directory)
    async with connection(database) as conn:
        await _acquire_lock(conn)
        try:
            await _create_ledger(conn)
            pending = _pending(migrations, await _applied(conn))
            for migration in pending:
                await _apply(conn, migration)
            return [migration.label for migration in pending]
        finally:
            await _release_lock(conn)


async def _acquire_lock(conn: Any) -> None:
    # Concurrent runs queue here, so a migration is never applied twice.
    acquired = await conn.fetch_val(
        f"SELECT GET_LOCK({_LOCK_NAME}, :timeout)", {"timeout": LOCK_TIMEOUT_SECONDS}
    )
    if acquired != 1:
        raise MigrationError(
            f"another migration run held the lock for more than {LOCK_TIMEOUT_SECONDS} s"
        )


async def _release_lock(conn: Any) -> None:
    # A lost connection drops its session's locks on the server: nothing left to release, and
    # the error that lost it is the one worth reporting.
    with contextlib.suppress(driver.Error):
        await conn.execute(f"SELECT RELEASE_LOCK({_LOCK_NAME})")


async def _create_ledger(conn: Any) -> None:
    # Looked up rather than `CREATE TABLE IF NOT EXISTS`, whose server warning the driver
    # would log on every run; the lock rules out a race between the look and the create.
    exists = await conn.fetch_val(
        "SELECT COUNT(*) FROM information_schema.tables"
        " WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'"
    )
    if not exists:
        await _run(conn, _CREATE_LEDGER)


async def _applied(conn: Any) -> dict[int, str]:
    rows = await conn.fetch_all("SELECT version, checksum FROM schema_migrations")
    return {int(row["version"]): str(row["checksum"]) for row in rows}


def _pending(migrations: Sequence[Migration], applied: dict[int, str]) -> list[Migration]:
    known = {migration.version: migration for migration in migrations}
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}, which this code does not know"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.label} was edited after it was applied; "
                "add a new migration instead of changing an applied one"
            )
    return [migration for migration in migrations if migration.version not in applied]


async def _apply(conn: Any, migration: Migration) -> None:
    for number, statement in enumerate(migration.statements, start=1):
        try:
            await _run(conn, statement)
        except driver.Error as error:
            # MySQL commits DDL statement by statement: say where it stopped.
            raise MigrationError(
                f"migration {migration.label} failed at statement {number}: {error.args[-1]}"
            ) from error
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
        " VALUES (:version, :name, :checksum, UTC_TIMESTAMP(6))",
        {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
    )


async def _run(conn: Any, statement: str) -> None:
    # The driver's own cursor, without parameters: DDL is sent exactly as written, with no
    # placeholder parsing (`:name`, `%`) on the way.
    async with translate_errors(), conn.raw_connection.cursor() as cursor:
        await cursor.execute(statement)
