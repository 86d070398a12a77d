"""AES-256-GCM payload encryption, so customer data is never in Temporal's history in clear.

    PayloadDecryptionError      an encrypted payload this codec cannot read
    ├── PayloadKeyUnknownError  it was encrypted under another key id
    └── PayloadTamperedError    its bytes or its key id were changed, or the key is wrong

Payloads that are not encrypted pass through decoding untouched: histories written before
encryption was turned on still read.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """An encrypted payload could not be decrypted."""


class PayloadKeyUnknownError(PayloadDecryptionError):
    pass


class PayloadTamperedError(PayloadDecryptionError):
    pass


def decode_key(text: str) -> bytes:
    """The key from its base64 text; `ValueError` unless it is exactly 32 bytes (AES-256)."""
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{len(key)} bytes, not {KEY_BYTES}")
    return key


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload under one key, named by its id in the payload's metadata.

    The key id is authenticated with the data, so a payload cannot be relabelled; a fresh
    random nonce per payload is what AES-GCM needs to stay safe under one key.
    """

    def __init__(self, key_id: str, key: bytes) -> None:
        self._key_id = key_id
        self._cipher = AESGCM(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, payload.SerializeToString(), self._key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        if key_id != self._key_id:
            raise PayloadKeyUnknownError(
                f"payload encrypted with key id {key_id!r}; this process has {self._key_id!r}"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            clear = self._cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadTamperedError(
                f"payload under key id {key_id!r} fails authentication: altered, or another key"
            ) from None
        return Payload.FromString(clear)
