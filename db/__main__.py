"""`python -m db migrate | load-demo-catalogue`: the database's own composition root."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections.abc import Awaitable, Callable

import databases
from pydantic import ValidationError

from db.connection import database_for, translate_errors
from db.demo_catalogue import load_demo_catalogue
from db.errors import DatabaseUnavailableError, MigrationError
from db.migrate import apply_migrations
from db.settings import DatabaseCommandSettings
from runtime.process import invalid_settings

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 2


async def migrate(database: databases.Database) -> None:
    applied = await apply_migrations(database)
    if applied:
        for label in applied:
            print(f"applied {label}")
    else:
        print("schema up to date: nothing to apply")


async def load_catalogue(database: databases.Database) -> None:
    for product in await load_demo_catalogue(database):
        print(
            f"product {product.id}: {product.sku} {product.name!r}"
            f" price {product.price} stock {product.stock_quantity}"
        )
    print("demo catalogue loaded")


COMMANDS: dict[str, tuple[str, Callable[[databases.Database], Awaitable[None]]]] = {
    "migrate": ("apply pending schema migrations (safe to run twice)", migrate),
    "load-demo-catalogue": ("insert or reset the demo products 1..8", load_catalogue),
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m db",
        description="Database tasks of the ordering system. Reads DATABASE_URL "
        "(mysql+asyncmy://user:password@host:port/db) and DATABASE_TLS* from the environment"
        " or a .env file.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, _) in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text)
    return parser.parse_args(argv)


async def run(command: str, url: str, tls: ssl.SSLContext | None) -> None:
    database = database_for(url, max_size=2, tls=tls)
    async with translate_errors():
        await database.connect()
    try:
        await COMMANDS[command][1](database)
    finally:
        await database.disconnect()


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        # DATABASE_URL and DATABASE_TLS*, from the environment, .env and SECRETS_DIR, as the
        # processes read theirs.
        settings = DatabaseCommandSettings.load()
    except ValidationError as error:
        print(f"error: invalid configuration: {invalid_settings(error)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if settings.database_url is None:
        print("error: DATABASE_URL is not set", file=sys.stderr)
        return EXIT_UNAVAILABLE
    url = settings.database_url.get_secret_value()
    try:
        asyncio.run(run(arguments.command, url, settings.database_ssl_context()))
    except ValueError as error:
        print(f"error: DATABASE_URL: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except DatabaseUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
