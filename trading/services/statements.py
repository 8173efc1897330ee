"""Several row writes as one Postgres statement: data-modifying CTEs built from the models themselves.

Every statement inside a transaction is a round trip while the transaction's row locks are held; chained as CTEs,
the INSERTs and UPDATEs of one step cost one. Columns and values come from each field's `pre_save` and
`get_db_prep_save`, as Django's own INSERT and UPDATE do, so a field added to a model is written here too. The
statement is prepared once per database session (trading.services.prepared).
Postgres only (other databases do not run data-modifying CTEs): callers write row by row elsewhere.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from trading.services import prepared


class Statement:
    """`WITH name AS (INSERT ... | UPDATE ...), ... SELECT <selects>`: add the parts, then `run()` -> the one row."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS):
        self.db = connections[using]  # the connection itself, not the proxy: it is asked for once per value
        self.parts: list[str] = []
        self.params: list = []

    def insert(self, name: str, rows: list[Model], *, links: dict[str, str] | None = None, returning: str = "id") -> None:
        """INSERT `rows` (one model) with every concrete field; `links` put SQL in place of a field's value
        (e.g. ``{"position_id": "(SELECT id FROM p)"}``)."""
        links = links or {}
        fields, columns = _insert_columns(type(rows[0]), frozenset(links))
        db, params = self.db, self.params
        tuples = []
        for row in rows:
            values = []
            for field in fields:
                if field.attname in links:
                    values.append(links[field.attname])
                    continue
                params.append(field.get_db_prep_save(field.pre_save(row, True), connection=db))
                values.append("%s")
            tuples.append("(" + ", ".join(values) + ")")
        self.parts.append(
            f"{name} AS (INSERT INTO {_table(type(rows[0]))} ({columns}) VALUES {', '.join(tuples)} RETURNING {returning})"
        )

    def update(self, name: str, row: Model, *, fields: list[str] | None = None, where: dict | None = None) -> None:
        """UPDATE `row`'s table by its pk (and the `where` column values), setting `fields` (attnames; every
        concrete non-pk field, as `save()` does, when None) from the instance. Returns the ids it updated."""
        model = type(row)
        meta = model._meta
        chosen, assignments = _update_columns(model, None if fields is None else tuple(fields))
        db, params = self.db, self.params
        for field in chosen:
            params.append(field.get_db_prep_save(field.pre_save(row, False), connection=db))
        quote = db.ops.quote_name
        conditions = [f"{quote(meta.pk.column)} = %s"]
        params.append(row.pk)
        for attname, value in (where or {}).items():
            conditions.append(f"{quote(meta.get_field(attname).column)} = %s")
            params.append(value)
        self.parts.append(
            f"{name} AS (UPDATE {_table(model)} SET {assignments} WHERE {' AND '.join(conditions)} "
            f"RETURNING {quote(meta.pk.column)})"
        )

    def run(self, *selects: str) -> tuple:
        sql = f"WITH {', '.join(self.parts)} SELECT {', '.join(selects)}"
        with self.db.cursor() as cursor:
            prepared.execute(self.db, cursor, sql, self.params)
            return cursor.fetchone()


def _quote(name: str) -> str:
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(name)


@functools.cache
def _table(model) -> str:
    return _quote(model._meta.db_table)


@functools.cache
def _insert_columns(model, links: frozenset[str]) -> tuple[list, str]:
    """The fields an INSERT writes (every concrete field but an unlinked pk) and their quoted column list."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname in links]
    return fields, ", ".join(_quote(f.column) for f in fields)


@functools.cache
def _update_columns(model, names: tuple[str, ...] | None) -> tuple[list, str]:
    """The fields an UPDATE sets (`names`, or every concrete non-pk field) and their `"column" = %s` list."""
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key] if names is None else [meta.get_field(n) for n in names]
    return fields, ", ".join(f"{_quote(f.column)} = %s" for f in fields)


def saved(*rows: Model) -> None:
    """Mark instances written by a Statement as loaded from the database (as `save()` leaves them)."""
    for row in rows:
        row._state.adding, row._state.db = False, DEFAULT_DB_ALIAS
