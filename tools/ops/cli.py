"""The command line of `python -m tools.ops`: commands, arguments and the help that explains
them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from schemas.order import OrderStatus
from tools.ops import dead_letters, reconcile

ORDER_HELP = (
    "an order_ref; or, when no order has that ref, an order id (digits, or its workflow id"
    " order-<id>)"
)
EPILOG = """\
configuration (environment variables or a .env file, as for the consumer and the worker):
  DATABASE_URL             mysql+asyncmy://user:password@host:port/db
  TEMPORAL_ADDRESS         default localhost:7233
  TEMPORAL_NAMESPACE       default ordering-system
  KAFKA_BOOTSTRAP_SERVERS  default localhost:9092
  ORDERS_TOPIC, DLQ_TOPIC  default orders.events, orders.events.dlq
  OPS_TIMEOUT_SECONDS      how long a query or a topic read may take, default 10
  OPS_LOG_LEVEL            the libraries' logs, default CRITICAL (silent)
  TEMPORAL_TLS*, TEMPORAL_API_KEY, PAYLOAD_ENCRYPTION_KEY[_ID]  as for the processes (README)
  CODEC_CORS_ORIGINS       pages that may call codec-server, default the local Temporal UIs
  CODEC_ALLOWED_HOSTS      the Host names codec-server answers to (name or name:port),
                           default localhost and 127.0.0.1 (and --host) with --port
  CODEC_AUTH_TOKEN         set, codec-server wants Authorization: Bearer <token>

exit codes:
  0  done
  1  not found, or nothing done (refused, nothing matched, findings left for a person)
  2  bad usage or configuration, or a service that cannot be reached
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.ops",
        description="Operator tools of the ordering system: look into an order, re-drive dead"
        " letters, reconcile MySQL with Temporal, cancel or override an order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    _inspect(commands)
    _dead_letters(commands)
    _reconcile(commands)
    _signals(commands)
    _codec_server(commands)
    return parser


def _command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             summary: str, description: str | None = None) -> argparse.ArgumentParser:  # fmt: skip
    return commands.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _inspect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inspect = _command(
        commands,
        "inspect",
        "show an order: row, items, stock, payment, notifications, history and workflow",
        "Show an order's row, items, stock reservations, payment, notifications and status"
        " history from MySQL, and its workflow: the get_order_state answer while it runs, its"
        " result once closed. The payment token is never stored, so never shown; text output"
        " masks the customer's email (a***@example.com), --json gives it in full.",
    )
    inspect.add_argument("order", metavar="ORDER", help=ORDER_HELP)
    inspect.add_argument("--json", action="store_true", help="one JSON document, for machines")
    inspect.set_defaults(handler="inspect")


def _dead_letters(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = _command(
        commands, "dead-letters", "list or re-drive the dead-letter topic", dead_letters.__doc__
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="action")
    listing = _command(
        actions,
        "list",
        "every dead letter: partition:offset, reason, message, source, key (never its bytes);"
        " reads from the beginning without a consumer group, so it moves no offsets",
    )
    listing.add_argument("--limit", type=_at_least(1), metavar="N", help="show the first N only")
    listing.add_argument("--reason", metavar="R", help="only those with reason R")
    listing.add_argument("--json", action="store_true", help="a JSON list, for machines")
    listing.set_defaults(handler="dead-letters list")
    redrive = _command(
        actions,
        "redrive",
        "publish chosen dead letters' original key and bytes to ORDERS_TOPIC again",
        dead_letters.__doc__,
    )
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead letter (see --reason)")
    which.add_argument(
        "--offset", type=_position, nargs="+", action="extend", metavar="P:O",
        help="the dead letters at these partition:offset positions",
    )  # fmt: skip
    redrive.add_argument("--reason", metavar="R", help="only those with reason R")
    redrive.add_argument(
        "--dry-run", action="store_true", help="say what would be sent, send nothing"
    )
    redrive.set_defaults(handler="dead-letters redrive")


def _reconcile(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = _command(
        commands,
        "reconcile",
        "find orders whose MySQL row and workflow disagree; repair what is safe, report the rest",
        reconcile.__doc__,
    )
    command.add_argument("--dry-run", action="store_true", help="report, write nothing")
    command.add_argument(
        "--stale-after", type=_at_least(0), default=300, metavar="SECONDS",
        help="a row unchanged for less is still in flight and left alone (default 300)",
    )  # fmt: skip
    command.add_argument(
        "--all", action="store_true",
        help="also check orders whose row is already COMPLETED, FAILED or CANCELLED",
    )  # fmt: skip
    command.set_defaults(handler="reconcile")


def _signals(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cancel = _command(
        commands,
        "cancel",
        "record a cancellation on a running order, signal cancel_order, report what it did",
        "Record the cancellation on the order in MySQL, as the consumer records a customer's"
        " (the order's next step stops it even before the workflow takes the signal), signal"
        " cancel_order to the order's running workflow, then query get_order_state to"
        " report whether it took effect. The workflow releases stock and refunds a capture"
        " before the order becomes CANCELLED (reason cancelled_by_customer); a cancellation of"
        " an order that is ending or ended changes nothing (exit 1).",
    )
    cancel.add_argument("order", metavar="ORDER", help=ORDER_HELP)
    cancel.add_argument("--reason", default="cancelled by an operator", metavar="TEXT")
    cancel.set_defaults(handler="cancel")
    force = _command(
        commands,
        "force-status",
        "signal update_order_status (an operator's override) and report accepted or rejected",
        "Signal update_order_status to the order's running workflow, then query"
        " get_order_state: the override is accepted only where the state machine allows it"
        " (CANCELLED, FAILED, or COMPLETED to end a CONFIRMED order's cancellation window"
        " early); otherwise it is listed in rejected_overrides and this exits 1.",
    )
    force.add_argument("order", metavar="ORDER", help=ORDER_HELP)
    force.add_argument(
        "status", metavar="STATUS", type=str.upper, choices=[s.value for s in OrderStatus],
        help="one of " + ", ".join(s.value for s in OrderStatus),
    )  # fmt: skip
    force.set_defaults(handler="force-status")


def _codec_server(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = _command(
        commands,
        "codec-server",
        "serve Temporal's remote codec protocol, so the Temporal UI shows payloads in clear",
        "Decrypt (/decode) and encrypt (/encode) payloads with PAYLOAD_ENCRYPTION_KEY for the"
        " Temporal UI and CLI: point the UI's codec endpoint at http://HOST:PORT. Browsers may"
        " call it from CODEC_CORS_ORIGINS only; it answers requests to the CODEC_ALLOWED_HOSTS"
        " names only (403 otherwise), and with CODEC_AUTH_TOKEN set, only those bearing it"
        " (401 otherwise; the CLI sends it with --codec-auth 'Bearer <token>'). It holds the"
        " key: keep it on localhost unless it is behind access control. Runs until"
        " interrupted.",
    )
    server.add_argument("--port", type=_at_least(1), default=8888, help="default 8888")
    server.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    server.set_defaults(handler="codec-server")


def _at_least(minimum: int) -> Callable[[str], int]:
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is less than {minimum}")
        return value

    return whole_number


def _position(text: str) -> dead_letters.Position:
    try:
        return dead_letters.position(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
