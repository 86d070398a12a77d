"""The connection pool, one connection per operation, and driver errors translated at the edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import databases
from asyncmy import errors as driver

from db.errors import DatabaseUnavailableError, OrderNotFoundError, TransactionConflictError
from runtime.mysql import SCHEME, DatabaseSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

MISSING_PARENT_ROW = 1452
LOCK_WAIT_TIMEOUT = 1205
DEADLOCK = 1213
CONFLICT_CODES = frozenset({LOCK_WAIT_TIMEOUT, DEADLOCK})

# Server errors after which the same statement may well succeed later. Access denied and
# unknown database are here on purpose: an operator fixes them without a code change, so
# callers back off and retry instead of crashing in a loop.
UNAVAILABLE_CODES = frozenset(
    {
        1040,  # too many connections
        1044,  # access denied to the database
        1045,  # access denied for the user
        1049,  # unknown database
        1053,  # server shutdown in progress
        1152,  # aborted connection
        1158, 1159, 1160, 1161,  # network read/write errors
        1226,  # user resource limit reached
        1290,  # server running with --read-only, e.g. during a failover
        1317,  # query interrupted (KILL QUERY)
        1927,  # connection killed (MariaDB)
        4031,  # disconnected by the server for inactivity (MySQL 8)
    }
)  # fmt: skip
CLIENT_ERROR_CODES = range(2000, 3000)  # CR_*: the client lost or never had its connection


def database_for(
    url: str, *, min_size: int = 1, max_size: int = 10, tls: ssl.SSLContext | None = None
) -> databases.Database:
    """A pool for `mysql+asyncmy://user:password@host:port/db`, over TLS with a context
    (`DatabaseTlsSettings.database_ssl_context()`); it connects on `connect()`."""
    if not url.startswith(f"{SCHEME}://"):
        # Never echo the URL: it carries the password.
        raise ValueError(f"the database URL must look like {SCHEME}://user:password@host:port/db")
    # Passed on to asyncmy's connect(), which verifies the server against the URL's host.
    options: dict[str, Any] = {} if tls is None else {"ssl": tls}
    return databases.Database(
        url,
        min_size=min_size,
        max_size=max_size,
        charset="utf8mb4",
        # TIMESTAMP columns and NOW() then read and write UTC whatever the server's zone is;
        # and every transaction reads committed rows (see `transaction`).
        init_command=(
            "SET time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
        ),
        connect_timeout=10,
        **options,
    )


def is_transient(error: BaseException) -> bool:
    """Whether a driver error means "not now" rather than "never"."""
    if isinstance(error, driver.InterfaceError | OSError):
        return True
    if isinstance(error, driver.OperationalError | driver.InternalError):
        code = error_code(error)
        return code in CONFLICT_CODES or code in UNAVAILABLE_CODES or code in CLIENT_ERROR_CODES
    return False


def error_code(error: BaseException) -> int | None:
    """The MySQL error number a driver error carries, if any."""
    code = error.args[0] if error.args else None
    return code if isinstance(code, int) else None


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Raise transient driver errors as `DatabaseUnavailableError`; leave the rest alone."""
    try:
        yield
    except (driver.Error, OSError) as error:
        if not is_transient(error):
            raise
        code = error_code(error)
        kind = TransactionConflictError if code in CONFLICT_CODES else DatabaseUnavailableError
        raise kind(f"database unavailable: {_describe(error)}", errno=code) from error


def _describe(error: BaseException) -> str:
    message = error.args[1] if len(error.args) > 1 else (error.args[0] if error.args else "")
    return str(message) or type(error).__name__


@contextmanager
def order_must_exist(order_id: int) -> Iterator[None]:
    """Raise `OrderNotFoundError` when a row's foreign key names no order."""
    try:
        yield
    except driver.IntegrityError as error:
        if error_code(error) == MISSING_PARENT_ROW:
            raise OrderNotFoundError(order_id) from error
        raise


@asynccontextmanager
async def connection(database: databases.Database) -> AsyncIterator[Any]:
    """This task's pooled connection, outside any transaction."""
    async with translate_errors(), database.connection() as conn:
        yield conn


@asynccontextmanager
async def transaction(database: databases.Database) -> AsyncIterator[Any]:
    """A transaction on this task's own pooled connection, committed unless an error escapes.

    Taking the connection explicitly keeps concurrent tasks sharing one `Database` on
    connections of their own (encode/databases#403, #456). BEGIN, COMMIT and ROLLBACK are
    sent here rather than through `databases`' Transaction, which never hands its connection
    back to the pool when the rollback itself fails, as it does after a cancelled query.

    Every connection of `database_for`'s pools runs READ COMMITTED. Each decision is taken
    under the row locks of the rows it decides on (an order's, a product's stock), never on a
    snapshot; REPEATABLE READ would add gap locks, which make two orders' inserts deadlock
    (an order locked joined to its payment not yet there locks the gap every newer order's
    payment goes into), and a snapshot that a long transaction holds back MySQL's purge with.
    """
    async with translate_errors(), database.connection() as conn:
        raw = conn.raw_connection
        if raw.get_transaction_status():
            # BEGIN would silently commit the caller's open transaction.
            raise RuntimeError("a transaction is already open on this task's connection")
        await raw.begin()
        try:
            yield conn
        except BaseException:
            await _roll_back(raw)
            raise
        await raw.commit()


async def _roll_back(raw: Any) -> None:
    # A connection the driver closed (a cancelled read) cannot roll back and need not: the
    # pool discards it, and the server rolls back the transaction when the session ends. A
    # rollback that fails likewise leaves the pool to discard a connection still in a
    # transaction; the error that caused the rollback is the one worth raising.
    if raw.connected:
        with contextlib.suppress(driver.Error, OSError):
            await raw.rollback()


async def retry_conflicts(operation: Callable[[], Awaitable[T]], *, attempts: int = 5) -> T:
    """Run a whole operation again when its transaction collided with another one (deadlock,
    lock wait timeout, a key inserted concurrently) and was rolled back; the rolled-back
    attempt left nothing behind, so running it again is safe."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except TransactionConflictError as conflict:
            if attempt == attempts:
                raise
            log.debug("transaction conflict, attempt %d of %d: %s", attempt, attempts, conflict)
            # Jitter keeps colliding transactions from colliding again in lockstep.
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


async def connect_database(settings: DatabaseSettings) -> databases.Database:
    """`open_database` for a service process's settings: its URL, pool size and TLS."""
    return await open_database(
        settings.database_url.get_secret_value(),
        max_size=settings.database_pool_size,
        tls=settings.database_ssl_context(),
    )


async def open_database(
    url: str, *, max_size: int = 10, tls: ssl.SSLContext | None = None
) -> databases.Database:
    """A connected pool; a server that cannot be reached, or whose certificate does not
    verify, is `DatabaseUnavailableError`."""
    database = database_for(url, max_size=max_size, tls=tls)
    async with translate_errors():
        await database.connect()
    return database
