"""Command line of the contract package: `python -m schemas export <directory>`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.json_schema import export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas")
    commands = parser.add_subparsers(dest="command", required=True)
    export_command = commands.add_parser(
        "export", help="write a JSON Schema file for each wire model"
    )
    export_command.add_argument("directory", type=Path)
    arguments = parser.parse_args(argv)
    for path in export(arguments.directory):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
