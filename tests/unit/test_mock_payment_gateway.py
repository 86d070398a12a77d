"""The mock payment gateway's deterministic test tokens and its amount limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from worker.errors import GatewayUnavailableError, PaymentDeclinedError
from worker.payments import MockPaymentGateway

AMOUNT = Decimal("44.98")


async def capture(
    token: str, *, amount: Decimal = AMOUNT, attempt: int = 1, key: str = "order-17"
) -> str:
    return await MockPaymentGateway().capture(
        idempotency_key=key, amount=amount, token=token, attempt=attempt
    )


async def test_tok_ok_is_captured_with_a_payment_id() -> None:
    payment_id = await capture("tok_ok")

    assert payment_id.startswith("pay_")


async def test_tok_decline_is_declined() -> None:
    with pytest.raises(PaymentDeclinedError):
        await capture("tok_decline")


@pytest.mark.parametrize("attempt", [1, 2])
async def test_tok_flaky_fails_transiently_on_its_first_two_attempts(attempt: int) -> None:
    with pytest.raises(GatewayUnavailableError):
        await capture("tok_flaky", attempt=attempt)


async def test_tok_flaky_is_captured_on_the_third_attempt() -> None:
    assert await capture("tok_flaky", attempt=3) == await capture("tok_ok")


async def test_an_amount_over_ten_thousand_is_declined() -> None:
    with pytest.raises(PaymentDeclinedError):
        await capture("tok_ok", amount=Decimal("10000.01"))


async def test_an_amount_of_exactly_ten_thousand_is_captured() -> None:
    assert (await capture("tok_ok", amount=Decimal("10000.00"))).startswith("pay_")


async def test_the_payment_id_is_the_same_for_the_same_idempotency_key() -> None:
    first = await capture("tok_ok", key="order-17")
    again = await capture("tok_ok", key="order-17", attempt=2)

    assert first == again


async def test_different_idempotency_keys_get_different_payment_ids() -> None:
    assert await capture("tok_ok", key="order-17") != await capture("tok_ok", key="order-18")
