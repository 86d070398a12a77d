"""What the composition root may put around the worker's ports as it wires them: nothing in a
deployment; in the fault tests, wrappers that crash, fail or slow a step at a port's call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from worker.payments import PaymentGateway
from worker.ports import Inventory, Notifications, Payments, StatusStore
from worker.relay import EventSender
from worker.steps import OrderStepStore

Port = TypeVar("Port")
Wrap = Callable[[Port], Port]


def unchanged(port: Port) -> Port:
    return port


@dataclass(frozen=True)
class PortWrappers:
    """One decorator per port, each given the adapter and returning what the activities (or
    the relay) will call instead; the identity by default."""

    step_store: Wrap[OrderStepStore] = unchanged
    status_store: Wrap[StatusStore] = unchanged
    inventory: Wrap[Inventory] = unchanged
    payments: Wrap[Payments] = unchanged
    notifications: Wrap[Notifications] = unchanged
    payment_gateway: Wrap[PaymentGateway] = unchanged
    event_sender: Wrap[EventSender] = unchanged


UNWRAPPED = PortWrappers()
