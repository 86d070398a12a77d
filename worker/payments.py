"""The mock payment gateway, with the contract's deterministic test tokens.

`tok_ok` succeeds; `tok_decline` is declined; `tok_flaky` fails transiently on the first two
attempts, then succeeds; any amount over 10000.00 is declined.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Protocol

from worker.errors import GatewayUnavailableError, PaymentDeclinedError

AMOUNT_LIMIT = Decimal("10000.00")


class PaymentGateway(Protocol):
    """A card gateway that takes one payment per idempotency key and refunds by that key."""

    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str: ...
    async def refund(self, *, idempotency_key: str, amount: Decimal) -> None: ...


class MockPaymentGateway:
    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str:
        """Capture `amount` and return the payment id, the same for the same idempotency key."""
        if token == "tok_flaky" and attempt <= 2:
            raise GatewayUnavailableError(f"gateway timed out (attempt {attempt})")
        if token == "tok_decline" or amount > AMOUNT_LIMIT:
            raise PaymentDeclinedError("declined by the issuer")
        return "pay_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]

    async def refund(self, *, idempotency_key: str, amount: Decimal) -> None:
        """Refund what was captured under the key, if anything; a second refund is harmless."""
