"""Security: SQL is only ever parameterised, and secrets never reach a log or an error.

- SQL metacharacters in every free-text field travel end to end unchanged, and every table is
  still there afterwards.
- A static check over `db/*.py`: SQL text is built from literals, code constants and generated
  `:name` placeholders only; values are always bound.
- With a distinctive database password, payment token and customer email, at LOG_LEVEL=INFO
  and =DEBUG, neither the consumer's nor the worker's log ever shows them, nor does the message
  of a start-up refused for a wrong password, nor any failure in a declined order's workflow
  history.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import databases
import pytest
import pytest_asyncio
from asyncmy import errors as driver
from temporalio.contrib.pydantic import pydantic_data_converter

from db.statements import case_when, in_list, select_rows, values_rows
from schemas.workflow_io import QUERY_GET_ORDER_STATE, OrderWorkflowInput, OrderWorkflowState
from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline
from tests.support.services import PROJECT_ROOT

TABLES = {
    "schema_migrations", "orders", "order_items", "products", "stock_reservations", "payments",
    "notifications", "order_status_history", "status_outbox", "outbox_relay_lease",
}  # fmt: skip


@dataclass(frozen=True)
class Hostile:
    """An order whose every free-text field is full of SQL metacharacters."""

    ref: str
    email: str
    method: str
    token: str
    event_id: str
    cancel_reason: str | None  # None: the order is left to complete


HOSTILE = [
    Hostile(
        ref="sql--1_a.b:c",
        email="o'brien--%_{x}/*y*/+|~`=?^#$&!@example.com",
        method="card'; DROP TABLE orders; --",
        token="tok'\";--/*%_\\ü*/ DROP TABLE payments; #",
        event_id="evt'\";--/*%_\\ü*/ OR '1'='1",
        cancel_reason="'; DELETE FROM orders WHERE '1'='1'; -- \"\\ /* %_ ü 🙂",
    ),
    Hostile(
        ref="sql--2_",
        email="zoë.ñ'%_--@example.com",
        method='"\\" OR 1=1 /*🙂*/ %_',
        token="\\'; UPDATE products SET stock_quantity=0; -- %s %(x)s {0} :token",
        event_id='\\"; SELECT SLEEP(10); -- :n %s',
        cancel_reason=None,
    ),
    Hostile(
        ref="sql--3.__",
        email="dröp'--@exämple.com",
        method="\\x00'\"%_;",
        token="tok_ok' UNION SELECT password FROM mysql.user --",
        event_id="';",
        cancel_reason="\\'\\\"; TRUNCATE order_items; /* unterminated",
    ),
]


def hostile_event(order: Hostile) -> dict[str, Any]:
    event = order_placed(order.ref, [(1, 1, "19.99")], token=order.token)
    event["event_id"] = order.event_id
    event["order"]["customer_email"] = order.email
    event["order"]["payment"]["method"] = order.method
    return event


async def workflow_input(pipeline: Pipeline, order_id: int) -> OrderWorkflowInput:
    history = await pipeline.temporal.get_workflow_handle(f"order-{order_id}").fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [decoded] = pydantic_data_converter.payload_converter.from_payloads(
        list(payloads), [OrderWorkflowInput]
    )
    assert isinstance(decoded, OrderWorkflowInput)
    return decoded


async def test_sql_metacharacters_in_every_free_text_field_travel_unchanged_end_to_end(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    # A short cancel window holds each order CONFIRMED until its cancellation has landed.
    pipeline.processes.start("consumer", ORDERING_CANCEL_WINDOW_SECONDS="8")
    for order in HOSTILE:
        await pipeline.publish.event(hostile_event(order))
    cancelled = [order for order in HOSTILE if order.cancel_reason is not None]
    await pipeline.statuses.wait_for(
        lambda: all("CONFIRMED" in pipeline.statuses.statuses(o.ref) for o in cancelled)
    )
    for order in cancelled:
        request = cancellation(order.ref, reason=order.cancel_reason or "")
        request["event_id"] = order.event_id
        await pipeline.publish.event(request)
    refs = [order.ref for order in HOSTILE]
    finals = await pipeline.statuses.wait_final(refs)

    expected = {o.ref: "COMPLETED" if o.cancel_reason is None else "CANCELLED" for o in HOSTILE}
    problems = await check(pipeline, Expected(orders=set(refs), statuses=expected))
    tables = {str(row[0]) for row in await pipeline.database.fetch_all("SHOW TABLES")}

    assert problems == [], describe(problems)
    assert finals == expected
    assert tables == TABLES
    for order in HOSTILE:
        row = await pipeline.order_row(order.ref)
        assert row is not None
        assert (row["order_ref"], row["customer_email"], row["payment_method"]) == (
            order.ref,
            order.email,
            order.method,
        )
        sent = await workflow_input(pipeline, row["id"])
        assert (sent.customer_email, sent.payment_method, sent.payment_token) == (
            order.email,
            order.method,
            order.token,
        )
        state = await pipeline.temporal.get_workflow_handle(f"order-{row['id']}").query(
            QUERY_GET_ORDER_STATE, result_type=OrderWorkflowState
        )
        assert state.cancel_reason == order.cancel_reason


# --- every SQL statement parameterised: a static check over the repositories ---------------

DB_PACKAGE = PROJECT_ROOT / "db"
EXECUTING = frozenset({"execute", "execute_many", "fetch_one", "fetch_all", "fetch_val", "iterate"})
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|VALUES|WHERE|FROM|SET|DROP|CREATE)\b")
_CONSTANT_NAME = re.compile(r"_?[A-Z][A-Z0-9_]*")
# The only names that may be written into SQL text, and why each is safe.
# Each name is also checked where it is bound: to the result of a placeholder helper, to a
# string literal, or to an entry of a dict of string literals, and never taken as a parameter.
ALLOWED_IN_SQL = {
    "placeholders": "`:p0, :p1` names from db.statements.in_list/select_rows; values are bound",
    "rows": "`(:r0_0, :r0_1)` groups from db.statements.values_rows/select_rows; values bound",
    "cases": "`WHEN :w0_0 THEN :w0_1` from db.statements.case_when; values are bound",
    "_ORDER_COLUMNS": "a constant list of column names",
    "_LOCK_NAME": "a constant SQL expression naming the migration lock",
    "where": "one of two constant conditions, picked by a column name written in the code",
}
PLACEHOLDER_HELPERS = frozenset({"in_list", "values_rows", "select_rows", "case_when"})
# Helpers that run the SQL they are given (its `{placeholders}` filled by `in_list`): what they
# are given is checked as a connection's statement is.
RUNNING_HELPERS = frozenset({"fetch_in"})
# Statements run as they are, and why their text is not input.
ALLOWED_STATEMENTS = {
    ("migrate.py", "statement"): "a statement of a migration file shipped with the code",
}
# Builds only placeholders and code-given aliases, as the test below shows at run time; its
# `fetch_in` fills a statement's `{placeholders}` with them, and what its callers give it is
# checked as a connection's statement is (RUNNING_HELPERS).
NOT_CHECKED = {"statements.py"}


def sql_building_problems(source: str, filename: str) -> list[str]:
    """Every place in `source` where SQL text may be built from something other than code."""
    tree = ast.parse(source)
    constants = _module_constants(tree)
    problems: list[str] = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.JoinedStr) and _SQL.search(_literal_text(node)):
            problems += [f"{where}: {part}" for part in _unsafe_interpolations(node)]
        elif _is_format_of_sql(node, constants):
            assert isinstance(node, ast.Call)
            values = [*node.args, *(keyword.value for keyword in node.keywords)]
            problems += [f"{where}: .format({ast.unparse(v)})" for v in values if not _safe(v)]
        elif isinstance(node, ast.BinOp) and _builds_sql_by_operator(node):
            problems += [f"{where}: {ast.unparse(node)[:60]}"]
        statement = _executed_statement(node)
        if statement is not None and not _acceptable_statement(statement, constants, filename):
            problems.append(f"{where}: runs {ast.unparse(statement)[:60]}")
    return problems + [f"{filename}: {problem}" for problem in _binding_problems(tree, constants)]


def _binding_problems(tree: ast.Module, constants: dict[str, ast.expr]) -> list[str]:
    """Allowed names written into SQL but bound, in that function, to anything other than
    code-made SQL text (or taken as a parameter, or not bound at all)."""
    functions = [
        node
        for node in tree.body
        + [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    problems = []
    for function in functions:
        used = _names_written_into_sql(function, constants)
        bound: dict[str, list[ast.expr]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.arg) and node.arg in used:
                problems.append(f"{function.name}: {node.arg} is a parameter")
            for name, value in _assignments(node):
                bound.setdefault(name, []).append(value)
        for name in sorted(used):
            values = bound.get(name) or ([constants[name]] if name in constants else [])
            if not values:
                problems.append(f"{function.name}: {name} is not bound here")
            problems += [
                f"{function.name}: {name} bound to {ast.unparse(value)[:60]}"
                for value in values
                if not _code_made_sql(value)
            ]
    return problems


def _names_written_into_sql(function: ast.AST, constants: dict[str, ast.expr]) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.JoinedStr) and _SQL.search(_literal_text(node)):
            parts = [part.value for part in node.values if isinstance(part, ast.FormattedValue)]
        elif _is_format_of_sql(node, constants):
            assert isinstance(node, ast.Call)
            parts = [*node.args, *(keyword.value for keyword in node.keywords)]
        else:
            continue
        names |= {part.id for part in parts if isinstance(part, ast.Name)}
    return names


def _assignments(node: ast.AST) -> list[tuple[str, ast.expr]]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return []
    assert node.value is not None
    firsts = [t.elts[0] if isinstance(t, ast.Tuple) and t.elts else t for t in targets]
    return [(t.id, node.value) for t in firsts if isinstance(t, ast.Name)]


def _code_made_sql(value: ast.expr) -> bool:
    if isinstance(value, ast.Call):
        return isinstance(value.func, ast.Name) and value.func.id in PLACEHOLDER_HELPERS
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Dict):
        return all(_literal_text(v) and isinstance(v, ast.Constant) for v in value.value.values)
    return isinstance(value, ast.Constant) and isinstance(value.value, str)


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and _CONSTANT_NAME.fullmatch(target.id):
            constants[target.id] = value
    return constants


def _literal_text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(part) for part in node.values)
    return ""


def _safe(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ALLOWED_IN_SQL


def _unsafe_interpolations(node: ast.JoinedStr) -> list[str]:
    return [
        f"{{{ast.unparse(part.value)}}}"
        for part in node.values
        if isinstance(part, ast.FormattedValue) and not _safe(part.value)
    ]


def _is_format_of_sql(node: ast.AST, constants: dict[str, ast.expr]) -> bool:
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return False
    template = node.func.value
    if isinstance(template, ast.Name) and template.id in constants:
        template = constants[template.id]
    return bool(_SQL.search(_literal_text(template)))


def _builds_sql_by_operator(node: ast.BinOp) -> bool:
    sides = (node.left, node.right)
    if isinstance(node.op, ast.Mod):
        return bool(_SQL.search(_literal_text(node.left)))
    if isinstance(node.op, ast.Add):
        literal = [side for side in sides if _literal_text(side)]
        return any(_SQL.search(_literal_text(s)) for s in literal) and len(literal) < 2
    return False


def _executed_statement(node: ast.AST) -> ast.expr | None:
    """The SQL a call runs: the first argument of a connection's method, the second of a
    statement helper (`fetch_in(conn, sql, ...)`)."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTING and node.args:
        return node.args[0]
    if isinstance(node.func, ast.Name) and node.func.id in RUNNING_HELPERS and len(node.args) > 1:
        return node.args[1]
    return None


def _acceptable_statement(
    statement: ast.expr, constants: dict[str, ast.expr], filename: str
) -> bool:
    if isinstance(statement, ast.Constant) and isinstance(statement.value, str):
        return True
    if isinstance(statement, ast.IfExp):  # one of two statements, each checked
        return all(
            _acceptable_statement(branch, constants, filename)
            for branch in (statement.body, statement.orelse)
        )
    if isinstance(statement, ast.Name):
        return statement.id in constants or (filename, statement.id) in ALLOWED_STATEMENTS
    if isinstance(statement, ast.JoinedStr):
        return not _unsafe_interpolations(statement)
    if _is_format_of_sql(statement, constants):
        assert isinstance(statement, ast.Call)
        return all(_safe(v) for v in [*statement.args, *(k.value for k in statement.keywords)])
    return False


def test_no_sql_in_the_repositories_is_built_from_anything_but_code_and_placeholders() -> None:
    files = sorted(path for path in DB_PACKAGE.glob("*.py") if path.name not in NOT_CHECKED)

    problems = [
        problem for path in files for problem in sql_building_problems(path.read_text(), path.name)
    ]

    assert len(files) >= 10
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "async def f(conn, ref):\n"
        "    await conn.fetch_one(f\"SELECT id FROM orders WHERE r = '{ref}'\")",
        'async def f(conn, ref):\n    await conn.execute("DELETE FROM orders WHERE r = %s" % ref)',
        'async def f(conn, ref):\n    await conn.execute("DELETE FROM orders WHERE r = " + ref)',
        'Q = "SELECT * FROM orders WHERE r = {ref}"\n'
        "async def f(conn, ref):\n    await conn.fetch_all(Q.format(ref=ref))",
        'async def f(conn, ref):\n    sql = "SELECT 1"\n    await conn.fetch_val(sql)',
        'def f(ref):\n    return f"UPDATE orders SET status = {ref!r}"',
        'async def f(conn, value):\n    where = f"id = {value}"\n'
        '    await conn.fetch_one(f"SELECT id FROM orders WHERE {where}")',
        'async def f(conn, rows):\n    await conn.execute(f"INSERT INTO t VALUES {rows}")',
        'async def f(conn, sql):\n    await fetch_in(conn, sql, [1], "p")',
        'Q = "SELECT 1"\nasync def f(conn, sql, a):\n    await conn.fetch_all(Q if a else sql)',
    ],
    ids=[
        "f-string",
        "percent",
        "concatenation",
        "format",
        "local-variable",
        "built-elsewhere",
        "allowed-name-bound-to-a-value",
        "allowed-name-as-a-parameter",
        "helper-given-a-parameter",
        "one-branch-a-parameter",
    ],
)
def test_the_static_check_catches_sql_built_from_values(source: str) -> None:
    assert sql_building_problems(source, "example.py") != []


def test_placeholder_helpers_never_write_a_value_into_the_sql() -> None:
    values = ["'; DROP TABLE orders; --", '"\\', "%s", ":name", "/* ü */", "_%"]

    built = [
        in_list(values, "p"),
        values_rows([values, values], "r"),
        select_rows([values], [f"c{n}" for n in range(len(values))], "s"),
        case_when(list(zip(values, reversed(values), strict=True)), "w"),
    ]

    for sql, bound in built:
        assert re.fullmatch(r"[\w\s:,()]*", sql), sql
        assert sorted(map(str, bound.values())) == sorted(values * (len(bound) // len(values)))


# --- secrets never in a log or an error -----------------------------------------------------

SECRET_TOKEN = f"tok_Secret{uuid.uuid4().hex[:10]}Token"
SECRET_EMAIL = f"ada.secret{uuid.uuid4().hex[:10]}@example.com"


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    url: str


@pytest_asyncio.fixture(loop_scope="session")
async def secret_account(migrated_database_url: str) -> AsyncIterator[Account]:
    """A MySQL account of this test's own, with a distinctive password and rights only on
    the test's database."""
    user = f"sec_{uuid.uuid4().hex[:12]}"
    password = f"Pw{uuid.uuid4().hex[:16]}Secret"
    parts = urlsplit(migrated_database_url)
    schema = parts.path.lstrip("/")
    url = urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))
    admin = databases.Database(migrated_database_url)
    await admin.connect()
    try:
        await admin.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        await _grant(admin, user, schema)
        yield Account(user, password, url)
    finally:
        await admin.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        await admin.disconnect()


async def _grant(admin: databases.Database, user: str, schema: str) -> None:
    rights = "SELECT, INSERT, UPDATE, DELETE"
    try:
        await admin.execute(f"GRANT {rights} ON `{schema}`.* TO '{user}'@'%'")
    except driver.OperationalError:
        # The application account may hold every right but not the right to grant them (the
        # local stack's does not): write the grant row itself, then have the server read it.
        escaped = schema.replace("_", "\\_")
        await admin.execute(
            "INSERT INTO mysql.db (Host, Db, User, Select_priv, Insert_priv, Update_priv,"
            " Delete_priv) VALUES ('%', :schema, :user, 'Y', 'Y', 'Y', 'Y')",
            {"schema": escaped, "user": user},
        )
        await admin.execute("FLUSH PRIVILEGES")


async def _wait_exit(pipeline: Pipeline, name: str, within: float = 60) -> int:
    code = await asyncio.to_thread(pipeline.processes.running[name].wait, within)
    del pipeline.processes.running[name]
    return code


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_the_database_password_and_payment_tokens_never_reach_a_log_at_any_level(
    pipeline: Pipeline, secret_account: Account, level: str
) -> None:
    settings = {"DATABASE_URL": secret_account.url, "LOG_LEVEL": level}
    pipeline.processes.start("worker", **settings)
    pipeline.processes.start("consumer", **settings)
    wrong = secret_account.url.replace(secret_account.password, f"{secret_account.password}X")
    for module in ("worker", "consumer"):
        pipeline.processes.start(module, f"{module}-wrong-password", DATABASE_URL=wrong,
                                 LOG_LEVEL=level)  # fmt: skip
    await pipeline.publish.event(order_placed("secret-ok", [(1, 1, "19.99")], token=SECRET_TOKEN))
    over_limit = order_placed("secret-declined", [(1, 501, "19.99")], token=SECRET_TOKEN)
    over_limit["order"]["customer_email"] = SECRET_EMAIL
    await pipeline.publish.event(over_limit)
    too_long = order_placed("secret-bad", [(1, 1, "19.99")], token=SECRET_TOKEN * 6)
    await pipeline.publish.event(too_long)
    conflicting = order_placed("secret-ok", [(2, 1, "5.00")], token=f"{SECRET_TOKEN}2")
    await pipeline.publish.event(conflicting)
    finals = await pipeline.statuses.wait_final(["secret-ok", "secret-declined"])
    sessions = await pipeline.count(
        "SELECT COUNT(*) FROM information_schema.processlist WHERE user = :u",
        {"u": secret_account.user},
    )
    exits = {name: await _wait_exit(pipeline, name) for name in _wrong_password_names()}

    problems = await check(
        pipeline,
        Expected(
            orders={"secret-ok", "secret-declined"},
            dead_letters=Counter(schema_violation=1, conflicting_duplicate=1),
            statuses={"secret-ok": "COMPLETED", "secret-declined": "FAILED"},
        ),
    )
    logs = {
        name: pipeline.processes.log(name)
        for name in ("worker", "consumer", *_wrong_password_names())
    }
    history, outcomes = await history_and_outcomes(pipeline, "secret-declined")

    assert problems == [], describe(problems)
    assert finals == {"secret-ok": "COMPLETED", "secret-declined": "FAILED"}
    # The processes really ran on the account, and really logged at that level.
    assert sessions >= 2
    assert all(f" {level} " in logs[name] for name in ("worker", "consumer"))
    # The wrong password really was refused, and the processes said so.
    assert exits == dict.fromkeys(_wrong_password_names(), 1)
    assert all("cannot run" in logs[name] for name in _wrong_password_names())
    leaks = [
        f"{name}: {_logger_of(line)} logged the {label}"
        for name, text in logs.items()
        for line in text.splitlines()
        for label, secret in [
            ("password", secret_account.password),
            ("token", SECRET_TOKEN),
            ("email", SECRET_EMAIL),
        ]
        if secret in line
    ]
    assert leaks == []
    # The declined order's history holds the token and email in its input, and the search
    # finds them there; what it records of the steps' outcomes (the decline) shows neither.
    assert SECRET_TOKEN in history
    assert SECRET_EMAIL in history
    assert any("payment_declined" in o for o in outcomes), "the history records no decline"
    assert [o for o in outcomes if SECRET_TOKEN in o or SECRET_EMAIL in o] == []


async def history_and_outcomes(pipeline: Pipeline, ref: str) -> tuple[str, list[str]]:
    """Order `ref`'s workflow history as JSON text with every payload decoded, and each outcome
    in it as the same text: each failure (a step's, a retry's last one, the workflow's; causes
    included) and each local step's marker (its result, or its failure): what the Temporal UI
    and CLI show of an error or of a step's answer."""
    row = await pipeline.order_row(ref)
    assert row is not None, ref
    handle = pipeline.temporal.get_workflow_handle(f"order-{row['id']}")
    decoded = _decoded_payloads((await handle.fetch_history()).to_json_dict())
    return json.dumps(decoded, ensure_ascii=False), [
        json.dumps(outcome, ensure_ascii=False) for outcome in _outcomes(decoded)
    ]


def _decoded_payloads(node: Any) -> Any:
    """`node` with each payload's base64 data and metadata replaced by their text."""
    if isinstance(node, list):
        return [_decoded_payloads(item) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("data"), str) and isinstance(node.get("metadata"), dict):
        return {
            "metadata": {k: _text(v) for k, v in node["metadata"].items()},
            "data": _text(node["data"]),
        }
    return {key: _decoded_payloads(value) for key, value in node.items()}


def _text(encoded: str) -> str:
    return base64.b64decode(encoded).decode(errors="replace")


_OUTCOME_KEYS = frozenset({"failure", "lastFailure", "markerRecordedEventAttributes"})


def _outcomes(node: Any) -> Iterator[Any]:
    """Every failure object and marker in a history's JSON, outermost first (a failure's causes
    are inside it, a marker's result or failure too)."""
    if isinstance(node, list):
        for item in node:
            yield from _outcomes(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _OUTCOME_KEYS and isinstance(value, dict):
                yield value
            else:
                yield from _outcomes(value)


def _logger_of(line: str) -> str:
    """The logger named in a `time LEVEL logger message` line; never the line itself."""
    fields = line.split(" ", 4)
    return " ".join(fields[2:4]) if len(fields) > 3 else "a line"


def _wrong_password_names() -> tuple[str, str]:
    return ("worker-wrong-password", "consumer-wrong-password")
