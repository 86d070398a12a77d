"""Driver errors translated at the database layer's edge, and conflicts retried."""

from __future__ import annotations

import pytest
from asyncmy import errors as driver

from db.connection import retry_conflicts, translate_errors
from db.errors import DatabaseError, DatabaseUnavailableError, TransactionConflictError


async def _raise_inside_translation(error: BaseException) -> None:
    async with translate_errors():
        raise error


@pytest.mark.parametrize(
    "error",
    [
        driver.OperationalError(2003, "Can't connect to MySQL server"),
        driver.OperationalError(2013, "Lost connection to MySQL server during query"),
        driver.OperationalError(1045, "Access denied for user"),
        driver.OperationalError(1927, "Connection was killed"),
        driver.InterfaceError(0, "Not connected"),
        ConnectionResetError("connection reset by peer"),
    ],
)
async def test_connection_trouble_becomes_database_unavailable(error: BaseException) -> None:
    with pytest.raises(DatabaseUnavailableError) as raised:
        await _raise_inside_translation(error)

    assert not isinstance(raised.value, TransactionConflictError)
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("code", [1205, 1213])
async def test_deadlocks_and_lock_wait_timeouts_become_transaction_conflicts(code: int) -> None:
    with pytest.raises(TransactionConflictError) as raised:
        await _raise_inside_translation(driver.OperationalError(code, "try restarting"))

    assert raised.value.errno == code


@pytest.mark.parametrize(
    "error",
    [
        driver.ProgrammingError(1064, "You have an error in your SQL syntax"),
        driver.OperationalError(1054, "Unknown column 'nope' in 'field list'"),
        driver.OperationalError(4025, "CONSTRAINT `ck_products_stock_quantity` failed"),
        driver.IntegrityError(1062, "Duplicate entry"),
        driver.DataError(1406, "Data too long for column"),
    ],
)
async def test_programming_errors_pass_through_untouched(error: BaseException) -> None:
    with pytest.raises(type(error)) as raised:
        await _raise_inside_translation(error)

    assert raised.value is error


async def test_the_transient_message_keeps_the_servers_words() -> None:
    with pytest.raises(DatabaseUnavailableError, match="database unavailable: Lost connection"):
        await _raise_inside_translation(driver.OperationalError(2013, "Lost connection"))


async def test_a_conflicting_operation_runs_again_until_it_succeeds() -> None:
    calls: list[int] = []

    async def collides_twice() -> str:
        calls.append(len(calls))
        if len(calls) < 3:
            raise TransactionConflictError("deadlock", errno=1213)
        return "done"

    assert await retry_conflicts(collides_twice) == "done"
    assert len(calls) == 3


async def test_a_conflict_that_persists_is_raised_after_the_last_attempt() -> None:
    calls: list[int] = []

    async def always_collides() -> None:
        calls.append(1)
        raise TransactionConflictError("deadlock", errno=1213)

    with pytest.raises(TransactionConflictError):
        await retry_conflicts(always_collides, attempts=3)
    assert len(calls) == 3


async def test_an_unavailable_database_is_not_retried_in_place() -> None:
    calls: list[int] = []

    async def unavailable() -> None:
        calls.append(1)
        raise DatabaseUnavailableError("gone away", errno=2006)

    with pytest.raises(DatabaseUnavailableError):
        await retry_conflicts(unavailable)
    assert len(calls) == 1


def test_every_error_of_the_layer_is_a_database_error() -> None:
    assert issubclass(TransactionConflictError, DatabaseUnavailableError)
    assert issubclass(DatabaseUnavailableError, DatabaseError)
