"""An order's secrets sealed for MySQL: its payment token and its customer's email, together.

The consumer stores them so that an order stored but never started can be started later from
MySQL alone (`consumer.sweeper`), and seals them so that neither is there in clear. They are
sealed with the payload key (`PAYLOAD_ENCRYPTION_KEY`), AES-256-GCM, rather than replaced by a
reference to a vault: the key already guards the same two values in Temporal's histories, it is
in every process that needs them, and a reference would add a store to run and to reach before
an order could start.

A sealed value is bound to its order: the order's ref and the key's id are authenticated with
it, so it cannot be copied to another order's row nor relabelled with another key's id. One
that cannot be opened raises `runtime.crypto.DecryptionError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runtime.crypto import KeyedCipher, TamperedError

FORMAT = 1
# A format byte, the key id's length and the id (255 bytes at most), the nonce, the sealed JSON
# and its 16-byte tag. The JSON is UTF-8: the longest email and token the contract accepts
# (254 and 128 characters, 4 bytes each at most) seal within it (`orders.sealed_secrets`).
MAX_SEALED_BYTES = 2048


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
        if not 0 < len(key_id.encode()) < 256:
            raise ValueError("the key id must have 1 to 255 bytes")
        self._cipher = KeyedCipher(key_id, key)

    def seal(self, order_ref: str, secrets: OrderSecrets) -> bytes:
        clear = json.dumps(
            {"customer_email": secrets.customer_email, "payment_token": secrets.payment_token},
            separators=(",", ":"),
            ensure_ascii=False,  # escaped, a character could take 12 bytes instead of 4
        ).encode()
        key_id = self._cipher.key_id.encode()
        sealed = self._cipher.seal(clear, bound_to=_bound_to(order_ref))
        value = bytes([FORMAT, len(key_id)]) + key_id + sealed
        # Cannot happen for an event the decoder accepted (see MAX_SEALED_BYTES).
        if len(value) > MAX_SEALED_BYTES:
            raise ValueError(f"sealed secrets take {len(value)} bytes, over {MAX_SEALED_BYTES}")
        return value

    def open(self, order_ref: str, value: bytes) -> OrderSecrets:
        if len(value) < 2 or value[0] != FORMAT:
            raise TamperedError("not a sealed value of a format this process reads")
        key_id = value[2 : 2 + value[1]].decode(errors="replace")
        clear = self._cipher.open(key_id, value[2 + value[1] :], bound_to=_bound_to(order_ref))
        fields = json.loads(clear)
        return OrderSecrets(
            customer_email=str(fields["customer_email"]),
            payment_token=str(fields["payment_token"]),
        )


def _bound_to(order_ref: str) -> bytes:
    return b"\x00" + order_ref.encode()
