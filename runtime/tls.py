"""A CA file or a certificate and its key, checked when the settings naming them are read, so a
wrong file stops the process at start-up naming its variable rather than at the first connect."""

from __future__ import annotations

import ssl
from pathlib import Path


def check_ca_file(path: Path, variable: str) -> None:
    """`ValueError` naming `variable` when the file holds no PEM certificate."""
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise ValueError(f"{variable} holds no PEM certificate") from None


def check_key_pair(certificate: Path, key: Path, password: str, *, refusal: str) -> None:
    """`ValueError(refusal)` when the key does not load with the certificate: not PEM, another
    certificate's key, or a password that does not open it.

    Give an empty password rather than none: with none, OpenSSL would ask for one on the
    terminal.
    """
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(certificate, key, password)
    except ssl.SSLError:
        raise ValueError(refusal) from None
