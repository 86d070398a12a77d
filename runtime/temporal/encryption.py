"""Payload encryption, so customer data is never in Temporal's history in clear: every payload
sealed under one key (`runtime.crypto`), the key's id beside it in the payload's metadata.

Payloads that are not encrypted pass through decoding untouched: histories written before
encryption was turned on still read. One that cannot be opened raises
`runtime.crypto.DecryptionError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from runtime.crypto import KeyedCipher

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload under one key, named by its id in the payload's metadata."""

    def __init__(self, key_id: str, key: bytes) -> None:
        self._cipher = KeyedCipher(key_id, key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        sealed = self._cipher.seal(payload.SerializeToString())
        metadata = {"encoding": ENCODING, KEY_ID: self._cipher.key_id.encode()}
        return Payload(metadata=metadata, data=sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        return Payload.FromString(self._cipher.open(key_id, payload.data))
