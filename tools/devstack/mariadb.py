"""A private MariaDB server: its own data directory, port and socket, never the system's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.devstack.config import StackConfig
from tools.devstack.processes import Part, StackError, wait_for_port, wait_until


def part(config: StackConfig) -> Part:
    return Part("mariadb", config.root / "mysql", marker=str(config.root / "mysql"))


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StackError(f"{name} not found: install Debian's mariadb-server package")


def _as_root() -> list[str]:
    # mariadbd refuses to run as root unless told to; it then keeps root's identity.
    return ["--user=root"] if os.geteuid() == 0 else []


def up(config: StackConfig) -> None:
    mysql = part(config)
    pid = mysql.running_pid()
    if pid is None:
        _start(config, mysql)
    else:
        _warn_without_tls(config, pid)
    _create_database_and_users(config)


def _start(config: StackConfig, mysql: Part) -> None:
    data = mysql.home / "data"
    if not (data / "mysql").is_dir():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}",
             "--auth-root-authentication-method=socket", "--skip-test-db", *_as_root()],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    mysql.spawn([
        _binary("mariadbd"), "--no-defaults", f"--datadir={data}",
        f"--port={config.mysql_port}", f"--bind-address={config.host}",
        f"--socket={mysql.home / 'mysqld.sock'}", f"--pid-file={mysql.home / 'mariadbd.pid'}",
        "--skip-name-resolve", "--innodb-buffer-pool-size=256M", "--max-connections=500",
        "--innodb-flush-log-at-trx-commit=2", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci", *_tls_options(config), *_as_root(),
    ])  # fmt: skip
    wait_for_port(mysql, config.host, config.mysql_port, timeout=60)
    wait_until(lambda: _sql(config, "SELECT 1").returncode == 0, 30)


def _create_database_and_users(config: StackConfig) -> None:
    """The database, the application user, and a user that may only connect over TLS (for
    telling a TLS connection from a plain one). Idempotent: run on every `up`, so a server
    started before a user existed gains it."""
    users = (
        (config.db_user, ""),
        (config.db_tls_user, " REQUIRE SSL"),
    )
    setup = f"CREATE DATABASE IF NOT EXISTS `{config.database}`;" + "".join(
        f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{config.db_password}'{require};"
        # The application user creates one database per test run, hence the global grant.
        f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%';"
        for user, require in users
    )
    result = _sql(config, setup)
    if result.returncode != 0:
        raise StackError(f"creating the database failed: {result.stderr.strip()}")


def _tls_options(config: StackConfig) -> list[str]:
    """TLS offered, not required: plaintext clients keep working, TLS ones verify the server."""
    tls = config.certificates
    return [
        f"--ssl-ca={tls.ca_file}",
        f"--ssl-cert={tls.server_cert_file}",
        f"--ssl-key={tls.server_key_file}",
    ]


def _warn_without_tls(config: StackConfig, pid: int) -> None:
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # it has just stopped: the next `up` starts it with TLS
        return
    if not any(arg.startswith(b"--ssl-cert=") for arg in command_line):
        print(
            "stack: mariadb runs without TLS (started before the stack served it); "
            "`python -m tools.devstack down` then `up` restarts it with TLS",
            file=sys.stderr,
        )


def _sql(config: StackConfig, statements: str) -> subprocess.CompletedProcess[str]:
    socket_path = part(config).home / "mysqld.sock"
    return subprocess.run(
        [_binary("mariadb"), "--no-defaults", f"--socket={socket_path}", "-uroot",
         "-e", statements],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
