"""The repositories and the rows they exchange, importable from one place."""

from db.catalogue import CatalogueRepository, ProductRow
from db.inventory import InventoryRepository
from db.notifications import NotificationRepository
from db.order_rows import ItemRow, NewOrder, OrderInsertResult, OrderRow, StatusRow
from db.orders import OrderRepository
from db.payments import PaymentRepository, PaymentRow, PaymentStatus

__all__ = [
    "CatalogueRepository",
    "InventoryRepository",
    "ItemRow",
    "NewOrder",
    "NotificationRepository",
    "OrderInsertResult",
    "OrderRepository",
    "OrderRow",
    "PaymentRepository",
    "PaymentRow",
    "PaymentStatus",
    "ProductRow",
    "StatusRow",
]
