"""What `python -m db` reads from its environment, or a `.env` file: the database's URL and TLS,
with the files of SECRETS_DIR as the service processes read theirs."""

from __future__ import annotations

import os
from typing import Self

from pydantic_settings import SettingsConfigDict

from runtime.mysql import DatabaseTlsSettings, DatabaseUrl


class DatabaseCommandSettings(DatabaseTlsSettings):
    # The `.env` the services read, whose other settings are theirs.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Optional here, so that its absence is said in so many words.
    database_url: DatabaseUrl | None = None

    @classmethod
    def load(cls) -> Self:
        """From the environment, `.env`, and the files of SECRETS_DIR; a variable set in the
        environment wins."""
        return cls(_secrets_dir=os.environ.get("SECRETS_DIR"))
