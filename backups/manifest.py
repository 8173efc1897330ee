"""The manifest of a backup: row counts and checksums of the money tables, and how two manifests are compared.

Money tables are found at run time, so this works whether or not the trading models exist yet: every model of the
`trading` app, every model whose table name mentions a ledger, and every table in the database itself that is named
`trading_*` or mentions `ledger` (a database restored from elsewhere may hold tables the code no longer models).
"""

from __future__ import annotations

import re

from django.apps import apps

MONEY_TABLE_PATTERN = re.compile(r"^trading_|ledger", re.IGNORECASE)


def money_model_tables() -> set[str]:
    tables: set[str] = set()
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        if meta.app_label == "trading" or "ledger" in meta.db_table.lower():
            tables.add(meta.db_table)
    return tables


def money_tables(existing: list[str]) -> list[str]:
    """The money tables among ``existing`` (the database's own table names), sorted."""
    wanted = money_model_tables()
    return sorted(name for name in existing if name in wanted or MONEY_TABLE_PATTERN.search(name))


def manifest_differences(expected: dict, actual: dict) -> list[str]:
    """Plain sentences, one per table whose count or checksum differs (empty when the manifests agree)."""
    problems = []
    expected_tables = expected.get("tables", {})
    actual_tables = actual.get("tables", {})
    for table in sorted(set(expected_tables) | set(actual_tables)):
        want, got = expected_tables.get(table), actual_tables.get(table)
        if want is None:
            problems.append(f"{table}: present in the restored copy but not in the manifest")
        elif got is None:
            problems.append(f"{table}: in the manifest but missing from the restored copy")
        elif want["rows"] != got["rows"]:
            problems.append(f"{table}: {want['rows']} rows in the manifest, {got['rows']} restored")
        elif want["checksum"] != got["checksum"]:
            problems.append(f"{table}: checksum differs ({want['checksum']} in the manifest, {got['checksum']} restored)")
    return problems
