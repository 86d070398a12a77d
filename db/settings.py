"""What `python -m db` reads from its environment: the database's URL and TLS, with the files of
SECRETS_DIR as the service processes read theirs."""

from __future__ import annotations

import os
from typing import Self

from runtime.mysql import DatabaseTlsSettings, DatabaseUrl


class DatabaseCommandSettings(DatabaseTlsSettings):
    # Optional here, so that its absence is said in so many words.
    database_url: DatabaseUrl | None = None

    @classmethod
    def load(cls) -> Self:
        return cls(_secrets_dir=os.environ.get("SECRETS_DIR"))
