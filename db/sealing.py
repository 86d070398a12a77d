"""An order's secrets sealed for MySQL: its payment token and its customer's email, together.

The consumer stores them so that an order stored but never started can be started later from
MySQL alone (`consumer.sweeper`), and seals them so that neither is there in clear. They are
sealed with the payload key (`PAYLOAD_ENCRYPTION_KEY`), AES-256-GCM, rather than replaced by a
reference to a vault: the key already guards the same two values in Temporal's histories, it is
in every process that needs them, and a reference would add a store to run and to reach before
an order could start.

A sealed value is bound to its order: the order's ref and the key's id are authenticated with
it, so it cannot be copied to another order's row nor relabelled with another key's id.

    SealedSecretsError          the sealed value cannot be opened by this process
    ├── SealedKeyUnknownError   it was sealed under another key id
    └── SealedTamperedError     its bytes, its order or its key id were changed, or the key is wrong
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 1
NONCE_BYTES = 12
# A format byte, the key id's length and the id, the nonce, the sealed JSON and its 16-byte tag.
MAX_SEALED_BYTES = 1024


class SealedSecretsError(ValueError):
    """A sealed value this process cannot open."""


class SealedKeyUnknownError(SealedSecretsError):
    pass


class SealedTamperedError(SealedSecretsError):
    pass


@dataclass(frozen=True, slots=True, repr=False)
class OrderSecrets:
    """What an order needs to start and MySQL must not hold in clear. Never printed."""

    customer_email: str
    payment_token: str

    def __repr__(self) -> str:
        return "OrderSecrets(<sealed>)"


class Sealer:
    """Seals and opens `OrderSecrets` under one key, named by its id inside the sealed bytes."""

    def __init__(self, key_id: str, key: bytes) -> None:
        self._key_id = key_id.encode()
        if not 0 < len(self._key_id) < 256:
            raise ValueError("the key id must have 1 to 255 bytes")
        self._cipher = AESGCM(key)

    def seal(self, order_ref: str, secrets: OrderSecrets) -> bytes:
        clear = json.dumps(
            {"customer_email": secrets.customer_email, "payment_token": secrets.payment_token},
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, clear, self._bound_to(order_ref, self._key_id))
        value = bytes([FORMAT, len(self._key_id)]) + self._key_id + nonce + sealed
        if len(value) > MAX_SEALED_BYTES:
            raise ValueError(f"sealed secrets take {len(value)} bytes, over {MAX_SEALED_BYTES}")
        return value

    def open(self, order_ref: str, value: bytes) -> OrderSecrets:
        if len(value) < 2 or value[0] != FORMAT:
            raise SealedTamperedError("not a sealed value of a format this process reads")
        key_id = value[2 : 2 + value[1]]
        if key_id != self._key_id:
            raise SealedKeyUnknownError(
                f"sealed under key id {key_id.decode(errors='replace')!r};"
                f" this process has {self._key_id.decode()!r}"
            )
        rest = value[2 + value[1] :]
        nonce, sealed = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
        try:
            clear = self._cipher.decrypt(nonce, sealed, self._bound_to(order_ref, key_id))
        except InvalidTag:
            raise SealedTamperedError(
                "sealed secrets fail authentication: altered, another order's, or another key"
            ) from None
        fields = json.loads(clear)
        return OrderSecrets(
            customer_email=str(fields["customer_email"]),
            payment_token=str(fields["payment_token"]),
        )

    @staticmethod
    def _bound_to(order_ref: str, key_id: bytes) -> bytes:
        return key_id + b"\x00" + order_ref.encode()
