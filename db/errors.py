"""Errors of the database layer; driver errors are translated into these at its boundary.

    DatabaseError
    ├── DatabaseUnavailableError      transient: unreachable, connection lost, refused for now
    │   └── TransactionConflictError  deadlock (1213) or lock wait timeout (1205); retry at once
    ├── MigrationError                a migration cannot be applied, or an applied one was edited
    ├── InsufficientStockError        a product has fewer free units than an order asks for
    └── OrderNotFoundError            no order has the given id

Programming errors (bad SQL, a constraint the code should have respected) are not translated:
they are bugs, and they surface as the driver raised them.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class of every error this package raises on purpose."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot do the work now; the same call may succeed later."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class TransactionConflictError(DatabaseUnavailableError):
    """The server rolled back a transaction that collided with another one."""


class MigrationError(DatabaseError):
    """The schema cannot be brought up to date without a person looking at it."""


class InsufficientStockError(DatabaseError):
    """A product has fewer free units than requested; nothing was reserved."""

    def __init__(self, product_id: int, *, requested: int, available: int) -> None:
        super().__init__(
            f"insufficient stock for product {product_id}: "
            f"requested {requested}, available {available}"
        )
        self.product_id = product_id
        self.requested = requested
        self.available = available


class OrderNotFoundError(DatabaseError):
    """No order has the given id."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id
