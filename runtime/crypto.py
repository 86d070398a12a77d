"""AES-256-GCM under one key named by its id: what encrypts Temporal's payloads
(`runtime.temporal.encryption`) and seals an order's secrets in MySQL (`db.sealing`).

    DecryptionError       sealed bytes this process cannot open
    ├── KeyUnknownError   they were sealed under another key id
    └── TamperedError     their bytes, what they are bound to or their key id were changed,
                          or the key is wrong

The key id is authenticated with the data, so sealed bytes cannot be relabelled with another
key's id; a fresh random nonce each time is what AES-GCM needs to stay safe under one key.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """Sealed bytes could not be opened."""


class KeyUnknownError(DecryptionError):
    pass


class TamperedError(DecryptionError):
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


class KeyedCipher:
    """Seals and opens bytes under one key. `bound_to` is authenticated with them (with the key
    id) and must be given again to open them: what they belong to, so they cannot be moved."""

    def __init__(self, key_id: str, key: bytes) -> None:
        self.key_id = key_id
        self._cipher = AESGCM(key)

    def seal(self, clear: bytes, *, bound_to: bytes = b"") -> bytes:
        """The nonce followed by the sealed bytes and their tag."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, clear, self.key_id.encode() + bound_to)

    def open(self, key_id: str, sealed: bytes, *, bound_to: bytes = b"") -> bytes:
        """What `seal` was given, for bytes sealed under `key_id`."""
        if key_id != self.key_id:
            raise KeyUnknownError(
                f"sealed under key id {key_id!r}; this process has {self.key_id!r}"
            )
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._cipher.decrypt(nonce, body, key_id.encode() + bound_to)
        except InvalidTag:
            raise TamperedError(
                f"sealed under key id {key_id!r}, fails authentication: altered, moved from what"
                " it belongs to, or another key"
            ) from None
