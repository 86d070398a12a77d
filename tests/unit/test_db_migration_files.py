"""Migration files: how they are named, split into statements and fingerprinted."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.errors import MigrationError
from db.migrate import load_migrations, split_statements


def test_statements_end_at_a_semicolon_that_ends_a_line() -> None:
    script = (
        "-- a comment; with a semicolon at its end;\n"
        "CREATE TABLE a (\n"
        "  note VARCHAR(10) DEFAULT 'x;y'\n"
        ");\n"
        "\n"
        "CREATE TABLE b (id INT);   \n"
    )

    assert split_statements(script) == (
        "CREATE TABLE a (\n  note VARCHAR(10) DEFAULT 'x;y'\n)",
        "CREATE TABLE b (id INT)",
    )


def test_a_script_whose_last_statement_is_not_terminated_is_refused() -> None:
    with pytest.raises(MigrationError, match="does not end with ';'"):
        split_statements("CREATE TABLE a (id INT);\nCREATE TABLE b (id INT)\n")


def test_the_shipped_migrations_load_in_version_order_with_checksums() -> None:
    migrations = load_migrations()

    assert [m.label for m in migrations][:1] == ["0001_initial"]
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert all(len(m.checksum) == 64 for m in migrations)
    initial = migrations[0].statements
    assert len(initial) == 7
    assert all(statement.startswith("CREATE TABLE ") for statement in initial)


def test_a_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_initial.sql").write_text("CREATE TABLE a (id INT);\n")

    with pytest.raises(MigrationError, match=r"0001_initial\.sql"):
        load_migrations(tmp_path)


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id INT);\n")
    (tmp_path / "0001_b.sql").write_text("CREATE TABLE b (id INT);\n")

    with pytest.raises(MigrationError, match="share version 0001"):
        load_migrations(tmp_path)
