"""`python -m tools.ops <command>`: the operator tools' composition root.

Exit codes: 0 done; 1 not found, or nothing done (refused, nothing matched, or findings left
for a person); 2 bad usage, bad configuration or a service that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import databases
from asyncmy import errors as driver
from pydantic import ValidationError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode

from db.connection import error_code, open_database
from db.errors import DatabaseUnavailableError
from runtime.exit import exit_now
from runtime.process import invalid_settings
from runtime.telemetry.logs import configure_logging
from runtime.temporal.client import connect as connect_temporal
from runtime.temporal.client import encryption_codec
from schemas.order import OrderStatus
from tools.ops import codec_server, commands, dead_letters, inspection, kafka
from tools.ops.cli import build_parser
from tools.ops.codec_access import local_names
from tools.ops.errors import EXIT_OK, EXIT_UNUSABLE, OpsError, ServiceUnavailableError, UsageError
from tools.ops.orders import OrderRecords
from tools.ops.reconcile import Options, Reconciler
from tools.ops.settings import OpsSettings
from tools.ops.workflows import WorkflowAccess

NO_SUCH_TABLE = 1146
EXIT_INTERRUPTED = 130


def write(line: str) -> None:
    print(line, flush=True)


@asynccontextmanager
async def mysql(settings: OpsSettings) -> AsyncIterator[OrderRecords]:
    if settings.database_url is None:
        raise UsageError("DATABASE_URL is not set")
    try:
        database = await open_database(
            settings.database_url.get_secret_value(),
            max_size=2,
            tls=settings.database_ssl_context(),
        )
    except ValueError as error:  # never echo the URL: it carries the password
        raise UsageError(f"DATABASE_URL: {error}") from None
    except DatabaseUnavailableError as error:
        raise ServiceUnavailableError(f"MySQL: {error}") from None
    try:
        yield OrderRecords(database)
    finally:
        await _disconnect(database)


async def _disconnect(database: databases.Database) -> None:
    try:
        await database.disconnect()
    except Exception as error:  # the command's own outcome matters more than the goodbye
        logging.getLogger("ops").warning("disconnecting from MySQL failed: %r", error)


async def temporal(settings: OpsSettings) -> WorkflowAccess:
    address, namespace = settings.temporal_address, settings.temporal_namespace
    try:
        client = await connect_temporal(settings)
        # Checked once here: otherwise every workflow would look "not found".
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace),
            timeout=timedelta(seconds=settings.ops_timeout_seconds),
        )
    except RuntimeError as error:
        raise ServiceUnavailableError(f"Temporal at {address}: {error}") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ServiceUnavailableError(
                f"Temporal at {address} has no namespace {namespace}"
            ) from None
        raise ServiceUnavailableError(f"Temporal at {address}: {error.message}") from None
    return WorkflowAccess(client, settings.ops_timeout_seconds)


async def run_inspect(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    workflows = await temporal(settings)
    async with mysql(settings) as records:
        report = await inspection.gather(records, workflows, arguments.order)
    write(inspection.as_json(report) if arguments.json else inspection.as_text(report))
    return EXIT_OK


async def read_dead_letters(settings: OpsSettings) -> list[dead_letters.DeadLetter]:
    records = await kafka.read_topic(settings, settings.dlq_topic, settings.ops_timeout_seconds)
    return [dead_letters.DeadLetter(record) for record in records]


async def run_dead_letters_list(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    letters = await read_dead_letters(settings)
    chosen = dead_letters.choose(letters, positions=None, reason=arguments.reason)
    return dead_letters.list_letters(
        chosen, settings.dlq_topic, limit=arguments.limit, as_json=arguments.json, write=write
    )


async def run_dead_letters_redrive(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    letters = await read_dead_letters(settings)
    chosen = dead_letters.choose(
        letters, positions=None if arguments.all else arguments.offset, reason=arguments.reason
    )
    async with kafka.producer(settings) as producer:

        async def send(
            key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
        ) -> tuple[int, int]:
            with kafka.kafka_errors():
                sent = await producer.send_and_wait(
                    settings.orders_topic, value=value, key=key, headers=headers
                )
            return int(sent.partition), int(sent.offset)

        return await dead_letters.redrive(
            chosen,
            send,
            dlq_topic=settings.dlq_topic,
            to_topic=settings.orders_topic,
            dry_run=arguments.dry_run,
            write=write,
        )


async def run_reconcile(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    workflows = await temporal(settings)
    options = Options(
        dry_run=arguments.dry_run,
        stale_after_seconds=arguments.stale_after,
        include_terminal=arguments.all,
        orders_topic=settings.orders_topic,
    )
    async with mysql(settings) as records:
        return await Reconciler(records, workflows, options, write).run()


async def run_cancel(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    workflows = await temporal(settings)
    async with mysql(settings) as records:
        return await commands.cancel(records, workflows, arguments.order, arguments.reason, write)


async def run_force_status(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    workflows = await temporal(settings)
    async with mysql(settings) as records:
        return await commands.force_status(
            records, workflows, arguments.order, OrderStatus(arguments.status), write
        )


async def run_codec_server(arguments: argparse.Namespace, settings: OpsSettings) -> int:
    codec = encryption_codec(settings)
    if codec is None:
        raise UsageError("PAYLOAD_ENCRYPTION_KEY is not set: there is nothing to decode with")
    try:
        hosts = settings.codec_allowed_hosts or local_names(arguments.host, arguments.port)
    except ValueError as error:
        raise UsageError(f"--host: {error}") from None
    token = settings.codec_auth_token
    service = codec_server.CodecService(
        codec,
        settings.codec_cors_origins,
        hosts=hosts,
        token=token.get_secret_value() if token is not None else None,
    )
    try:
        runner = await codec_server.start(service, arguments.host, arguments.port)
    except OSError as error:
        raise UsageError(f"--port {arguments.port} cannot be served: {error}") from None
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        write(f"codec server on http://{arguments.host}:{arguments.port}")
        write(f"for pages from {', '.join(settings.codec_cors_origins)}")
        write(f"answering requests to Host {', '.join(map(str, hosts))}")
        if token is None:
            write("to anyone who reaches it: no CODEC_AUTH_TOKEN")
        else:
            write("bearing Authorization: Bearer <CODEC_AUTH_TOKEN> only")
        await stop.wait()
    finally:
        await runner.cleanup()
    return EXIT_OK


HANDLERS = {
    "inspect": run_inspect,
    "dead-letters list": run_dead_letters_list,
    "dead-letters redrive": run_dead_letters_redrive,
    "reconcile": run_reconcile,
    "cancel": run_cancel,
    "force-status": run_force_status,
    "codec-server": run_codec_server,
}


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        # From the environment, `.env`, and the files of SECRETS_DIR (one per setting).
        settings = OpsSettings(_secrets_dir=os.environ.get("SECRETS_DIR"))
    except ValidationError as error:
        print(f"ops: invalid configuration: {invalid_settings(error)}", file=sys.stderr)
        return EXIT_UNUSABLE
    # The libraries' own logs (a broker that refuses a connection...) would bury the one
    # line the tool prints; OPS_LOG_LEVEL=INFO brings them back.
    configure_logging(settings.ops_log_level, "text")  # a command speaks to a person
    try:
        return asyncio.run(HANDLERS[arguments.handler](arguments, settings))
    except OpsError as error:
        print(f"ops: {error}", file=sys.stderr)
        return error.exit_code
    except DatabaseUnavailableError as error:
        print(f"ops: MySQL: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except driver.ProgrammingError as error:
        if error_code(error) != NO_SUCH_TABLE:
            raise
        print("ops: MySQL: a table is missing; run `python -m db migrate`", file=sys.stderr)
        return EXIT_UNUSABLE
    except BrokenPipeError:  # the reader left early (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("ops: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    exit_now(main())
