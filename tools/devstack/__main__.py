"""`python -m tools.devstack up|down|status`: the local stack that `make stack-up` starts."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tools.devstack import kafka, mariadb, temporal, tls
from tools.devstack.config import StackConfig
from tools.devstack.processes import Part, StackError, port_open
from tools.devstack.topics import ensure_topics

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _parts(config: StackConfig) -> list[tuple[Part, int]]:
    return [
        (kafka.part(config), config.kafka_port),
        (mariadb.part(config), config.mysql_port),
        (temporal.part(config), config.temporal_port),
    ]


def up(config: StackConfig) -> None:
    started = time.monotonic()
    config.root.mkdir(parents=True, exist_ok=True)
    tls.ensure_certificates(config.certificates.directory)
    for name, start in (("kafka", kafka.up), ("mariadb", mariadb.up), ("temporal", temporal.up)):
        print(f"stack: {name} …", flush=True)
        start(config)
    asyncio.run(ensure_topics(config.kafka_bootstrap, config.topics, config.partitions))
    print(f"stack: topics {', '.join(config.topics)} ({config.partitions} partitions when new)")
    env_file = config.root / "env"
    env_file.write_text(config.env_lines())
    print(f"stack: up in {time.monotonic() - started:.1f}s; endpoints in {env_file}")
    print(config.env_lines(), end="")


def down(config: StackConfig) -> None:
    for part, _ in reversed(_parts(config)):
        print(f"stack: {part.name} {'stopped' if part.stop() else 'was not running'}")


def status(config: StackConfig) -> int:
    all_up = True
    for part, port in _parts(config):
        pid = part.running_pid()
        answers = port_open(config.host, port)
        all_up &= pid is not None and answers
        state = f"running, pid {pid}" if pid else "stopped"
        print(f"{part.name:9} {state:22} {config.host}:{port} {'answers' if answers else '-'}")
    for name, port in (
        ("sasl_ssl", config.sasl_ssl_port),
        ("sasl_text", config.sasl_plaintext_port),
    ):
        answers = port_open(config.host, port)
        all_up &= answers
        print(f"{name:9} {'(kafka)':22} {config.host}:{port} {'answers' if answers else '-'}")
    print(f"{'ui':9} {'':22} {config.temporal_ui_url}")
    return 0 if all_up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    config = StackConfig.from_env(PROJECT_ROOT)
    try:
        if args.command == "up":
            up(config)
        elif args.command == "down":
            down(config)
        else:
            return status(config)
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
