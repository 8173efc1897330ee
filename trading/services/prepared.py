"""The buy path's statements as Postgres prepared statements: planned once per database session, not per buy.

Postgres plans every statement it is sent as text; for the buy path's statements (the trader's book, the order reads
with their joins, the entry and fill writes) planning costs as much as running them or more (0.1 to 0.9 ms each
on this desk, more on a busy machine). `execute` sends `PREPARE name AS ...; EXECUTE name(...)` the first time a
session runs a statement (one round trip, as before) and `EXECUTE name(...)` after that; after a few executions
Postgres keeps one generic plan and stops planning.

Only where a session outlives a statement: a persistent connection (CONN_MAX_AGE not 0) to Postgres. With
CONN_MAX_AGE 0 (behind a transaction pooler, where a session changes between transactions) statements are sent
as text, as are those of every other database.
"""

from __future__ import annotations

import hashlib
import re

from django.db import DatabaseError
from django.db.backends.signals import connection_created

_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")
_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name


def _convert(sql: str, params) -> tuple[str, list]:
    """`sql` with $n placeholders (literal %% kept for the driver) and the parameters in $n order."""
    form = _forms.get(sql)
    if form is None:
        form = _forms[sql] = _form(sql)
    text, names = form
    return text, list(params) if names is None else [params[name] for name in names]


def _form(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """`sql` with $n placeholders, and the parameter names in $n order (None for %s placeholders, taken in order)."""
    names: list[str] = []
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        text, name = match.group(0), match.group(1)
        if text == "%%":
            return text
        if name is None:
            count += 1
            return f"${count}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _PLACEHOLDER.sub(number, sql)
    if names and count:
        raise ValueError("a statement uses either %s or %(name)s placeholders, not both")
    return text, tuple(names) if names else None


_forms: dict[str, tuple[str, tuple[str, ...] | None]] = {}  # per statement text: a handful in all


def _session(connection) -> dict[str, str]:
    """The statements prepared on `connection`'s current database session: sql -> name."""
    prepared = getattr(connection, "_trading_prepared", None)
    if prepared is None:
        prepared = connection._trading_prepared = {}
    return prepared


def _forget(sender, connection, **kwargs) -> None:
    """A new database session has none of the old session's statements."""
    connection._trading_prepared = {}


connection_created.connect(_forget, dispatch_uid="trading.services.prepared")
_attempts = iter(range(1, 2**62))


def usable(connection) -> bool:
    return connection.vendor == "postgresql" and connection.settings_dict.get("CONN_MAX_AGE") != 0


def execute(connection, cursor, sql: str, params=()) -> None:
    """`cursor.execute(sql, params)`, as a prepared statement where `usable` (see the module). `params`: a list for
    %s placeholders or a dict for %(name)s ones."""
    if not usable(connection):
        cursor.execute(sql, params)
        return
    prepared = _session(connection)
    name = prepared.get(sql)
    if name is not None:
        _, values = _convert(sql, params)
        try:
            cursor.execute(_execute_sql(name, values), values)
        except DatabaseError as exc:
            if getattr(exc.__cause__, "pgcode", None) == _NO_SUCH_STATEMENT:  # the session lost it (DISCARD ALL)
                prepared.pop(sql, None)  # this call fails; the next one prepares it again
            raise
        return
    text, values = _convert(sql, params)
    # A name of its own for every first attempt: if the round trip fails, the PREPARE in it may or may not have
    # happened (it is not undone with the transaction), so a later attempt never reuses that name.
    name = f"trading_{hashlib.sha1(sql.encode()).hexdigest()[:16]}_{next(_attempts)}"
    cursor.execute(f"PREPARE {name} AS {text}; {_execute_sql(name, values)}", values)
    prepared[sql] = name


def _execute_sql(name: str, values: list) -> str:
    return f"EXECUTE {name}({', '.join(['%s'] * len(values))})" if values else f"EXECUTE {name}"
