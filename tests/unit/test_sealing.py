"""An order's secrets sealed for MySQL: opened only by the same key, for the same order."""

from __future__ import annotations

import pytest

from db.sealing import (
    MAX_SEALED_BYTES,
    OrderSecrets,
    Sealer,
)
from runtime.crypto import KeyUnknownError, TamperedError

KEY = bytes(range(32))
SECRETS = OrderSecrets(customer_email="ada@example.com", payment_token="tok_ok")


def test_sealed_secrets_open_to_what_was_sealed_and_hold_neither_in_clear() -> None:
    sealer = Sealer("key-1", KEY)

    sealed = sealer.seal("web-1", SECRETS)

    assert sealer.open("web-1", sealed) == SECRETS
    assert b"ada@example.com" not in sealed
    assert b"tok_ok" not in sealed
    assert sealer.seal("web-1", SECRETS) != sealed  # a fresh nonce each time


def test_secrets_moved_to_another_orders_row_do_not_open() -> None:
    sealer = Sealer("key-1", KEY)

    with pytest.raises(TamperedError, match="moved from what it belongs to"):
        sealer.open("web-2", sealer.seal("web-1", SECRETS))


def test_secrets_sealed_under_another_key_id_name_it() -> None:
    sealed = Sealer("old-key", KEY).seal("web-1", SECRETS)

    with pytest.raises(KeyUnknownError, match=r"'old-key'.*'key-1'"):
        Sealer("key-1", KEY).open("web-1", sealed)


def test_a_changed_byte_or_another_key_under_the_same_id_is_refused() -> None:
    sealed = bytearray(Sealer("key-1", KEY).seal("web-1", SECRETS))
    sealed[-1] ^= 1

    with pytest.raises(TamperedError):
        Sealer("key-1", KEY).open("web-1", bytes(sealed))
    with pytest.raises(TamperedError):
        Sealer("key-1", bytes(32)).open("web-1", Sealer("key-1", KEY).seal("web-1", SECRETS))


def test_the_secrets_never_print() -> None:
    assert "tok_ok" not in repr(SECRETS)
    assert "ada" not in repr(SECRETS)


def test_the_longest_secrets_the_contract_accepts_fit_their_column() -> None:
    # 254 and 128 characters of 4 bytes each, under the longest key id a sealer takes.
    largest = OrderSecrets(customer_email="\U0001d51e" * 254, payment_token="\U0001f600" * 128)
    sealer = Sealer("k" * 255, KEY)

    sealed = sealer.seal("web-1", largest)

    assert len(sealed) <= MAX_SEALED_BYTES
    assert sealer.open("web-1", sealed) == largest
