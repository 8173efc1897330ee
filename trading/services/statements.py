"""Several row writes as one Postgres statement: data-modifying CTEs built from the models themselves.

Every statement inside a transaction is a round trip while the transaction's row locks are held; chained as CTEs,
the INSERTs and UPDATEs of one step cost one. Columns and values come from each field's `pre_save` and
`get_db_prep_save`, as Django's own INSERT and UPDATE do, so a field added to a model is written here too. The
statement is prepared once per database session (trading.services.prepared).
Postgres only (other databases do not run data-modifying CTEs): callers write row by row elsewhere.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

from trading.services import prepared


class Statement:
    """`WITH name AS (INSERT ... | UPDATE ...), ... SELECT <selects>`: add the parts, then `run()` -> the one row."""

    def __init__(self):
        self.parts: list[str] = []
        self.params: list = []

    def insert(self, name: str, rows: list[Model], *, links: dict[str, str] | None = None, returning: str = "id") -> None:
        """INSERT `rows` (one model) with every concrete field; `links` put SQL in place of a field's value
        (e.g. ``{"position_id": "(SELECT id FROM p)"}``)."""
        links = links or {}
        fields = [f for f in rows[0]._meta.concrete_fields if not f.primary_key or f.attname in links]
        tuples = []
        for row in rows:
            values = []
            for field in fields:
                if field.attname in links:
                    values.append(links[field.attname])
                    continue
                self.params.append(field.get_db_prep_save(field.pre_save(row, True), connection=connection))
                values.append("%s")
            tuples.append("(" + ", ".join(values) + ")")
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        self.parts.append(
            f"{name} AS (INSERT INTO {self._table(rows[0])} ({columns}) VALUES {', '.join(tuples)} RETURNING {returning})"
        )

    def update(self, name: str, row: Model, *, fields: list[str] | None = None, where: dict | None = None) -> None:
        """UPDATE `row`'s table by its pk (and the `where` column values), setting `fields` (attnames; every
        concrete non-pk field, as `save()` does, when None) from the instance. Returns the ids it updated."""
        meta = row._meta
        concrete = [f for f in meta.concrete_fields if not f.primary_key]
        chosen = concrete if fields is None else [meta.get_field(name) for name in fields]
        quote = connection.ops.quote_name
        assignments = []
        for field in chosen:
            assignments.append(f"{quote(field.column)} = %s")
            self.params.append(field.get_db_prep_save(field.pre_save(row, False), connection=connection))
        conditions = [f"{quote(meta.pk.column)} = %s"]
        self.params.append(row.pk)
        for attname, value in (where or {}).items():
            conditions.append(f"{quote(meta.get_field(attname).column)} = %s")
            self.params.append(value)
        self.parts.append(
            f"{name} AS (UPDATE {self._table(row)} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)} "
            f"RETURNING {quote(meta.pk.column)})"
        )

    def run(self, *selects: str) -> tuple:
        sql = f"WITH {', '.join(self.parts)} SELECT {', '.join(selects)}"
        with connection.cursor() as cursor:
            prepared.execute(connection, cursor, sql, self.params)
            return cursor.fetchone()

    @staticmethod
    def _table(row: Model) -> str:
        return connection.ops.quote_name(row._meta.db_table)


def saved(*rows: Model) -> None:
    """Mark instances written by a Statement as loaded from the database (as `save()` leaves them)."""
    for row in rows:
        row._state.adding, row._state.db = False, connection.alias
