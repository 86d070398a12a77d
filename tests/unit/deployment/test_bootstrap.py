"""`tools/devstack/bootstrap.sh`: what a bare machine lacks is installed, or named with its
command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.services import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "tools" / "devstack" / "bootstrap.sh"
# What the script itself runs, besides the tools it looks for.
PLUMBING = ("bash", "awk", "paste", "sed", "cat", "env")


def machine(tmp_path: Path, tools: dict[str, str]) -> dict[str, str]:
    """A PATH holding only `tools` (name -> shell body) and the script's plumbing; `java` and
    `python3` answer as real ones, others as the test writes them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in PLUMBING:
        found = shutil.which(name)
        assert found is not None, name
        (bin_dir / name).symlink_to(found)
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path), "CALLS": str(tmp_path / "calls")}


JAVA_17 = "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2"
PYTHON = f'exec {sys.executable} "$@"'
RECORDED = 'echo "apt-get $*" >> "$CALLS"'
EVERYTHING = {
    "python3": PYTHON, "java": JAVA_17, "mvn": "", "make": "", "mariadb": "",
    "mariadbd": "", "mariadb-install-db": "", "uname": "echo Linux", "id": "echo 0",
}  # fmt: skip


def run(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env=env | extra, capture_output=True, text=True, check=False
    )


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


def test_a_machine_with_everything_installs_nothing_and_says_nothing(tmp_path: Path) -> None:
    env = machine(tmp_path, EVERYTHING | {"apt-get": RECORDED})

    result = run(env)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert calls(env) == []


def test_root_on_debian_installs_what_is_missing_with_apt_get(tmp_path: Path) -> None:
    tools = {k: v for k, v in EVERYTHING.items() if k not in ("mvn", "java")}
    env = machine(tmp_path, tools | {"apt-get": RECORDED, "apt-cache": "true"})

    result = run(env)

    assert result.returncode == 0, result.stderr
    assert "installing openjdk-17-jre-headless maven" in result.stdout
    assert calls(env)[-1] == (
        "apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven"
    )


def test_an_older_java_counts_as_missing(tmp_path: Path) -> None:
    java_11 = "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2"
    env = machine(tmp_path, EVERYTHING | {"java": java_11, "apt-get": RECORDED})

    result = run(env, DEVSTACK_NO_INSTALL="1")

    assert result.returncode == 1
    assert "missing Java 17 or newer" in result.stderr


def test_with_no_install_it_names_the_command_and_installs_nothing(tmp_path: Path) -> None:
    tools = {k: v for k, v in EVERYTHING.items() if k not in ("mariadbd", "mariadb-install-db")}
    env = machine(tmp_path, tools | {"apt-get": RECORDED, "apt-cache": "true"})

    result = run(env, DEVSTACK_NO_INSTALL="1")

    assert result.returncode == 1
    assert "missing MariaDB server" in result.stderr
    assert "apt-get install -y --no-install-recommends mariadb-server-core" in result.stderr
    assert calls(env) == []


def test_a_user_without_password_less_sudo_is_told_the_command(tmp_path: Path) -> None:
    tools = {k: v for k, v in EVERYTHING.items() if k != "mvn"}
    env = machine(tmp_path, tools | {"id": "echo 1000", "sudo": "exit 1", "apt-get": RECORDED})

    result = run(env)

    assert result.returncode == 1
    assert "sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends maven'" in (
        result.stderr
    )
    assert calls(env) == []


def test_a_mac_is_told_the_homebrew_formulas(tmp_path: Path) -> None:
    tools = {k: v for k, v in EVERYTHING.items() if k not in ("mvn", "mariadb", "mariadbd")}
    env = machine(tmp_path, tools | {"uname": "echo Darwin"})

    result = run(env)

    assert result.returncode == 1
    assert "brew install mariadb maven" in result.stderr


def test_a_python_older_than_3_11_stops_it_before_anything_else(tmp_path: Path) -> None:
    env = machine(tmp_path, EVERYTHING | {"python3": "exit 1", "apt-get": RECORDED})

    result = run(env)

    assert result.returncode == 1
    assert "older than 3.11" in result.stderr
    assert calls(env) == []
