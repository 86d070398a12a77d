"""What `python -m db` reads: the database's URL from the environment or `.env`, as the
services read theirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db.settings import DatabaseCommandSettings

URL = "mysql+asyncmy://ordering:secret@localhost:3306/ordering"


@pytest.fixture(autouse=True)
def in_a_folder_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # away from the checkout's `.env`
    for name in [n for n in os.environ if n.startswith("DATABASE_") or n == "SECRETS_DIR"]:
        monkeypatch.delenv(name)


def test_the_database_url_is_read_from_a_dotenv_file_beside_the_services_settings() -> None:
    Path(".env").write_text(f"DATABASE_URL={URL}\nKAFKA_BOOTSTRAP_SERVERS=localhost:9092\n")

    settings = DatabaseCommandSettings.load()

    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL


def test_a_variable_set_in_the_environment_wins_over_the_dotenv_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path(".env").write_text("DATABASE_URL=mysql+asyncmy://other:other@elsewhere:3306/other\n")
    monkeypatch.setenv("DATABASE_URL", URL)

    settings = DatabaseCommandSettings.load()

    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL


def test_without_a_url_anywhere_none_is_read() -> None:
    assert DatabaseCommandSettings.load().database_url is None
