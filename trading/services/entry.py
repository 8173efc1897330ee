"""Writing a new position: its row, its exit plan and legs, and its buy order, in one statement on Postgres.

Four INSERTs cost four round trips inside the entry's transaction (which holds the trader's ledger lock); chained
as data-modifying CTEs they cost one. The columns and values come from the models themselves (each field's
`pre_save` and `get_db_prep_save`, as Django's own INSERT does), so a field added to a model is written here too.
Other databases (the local SQLite desk) save the rows one by one.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

from trading.models import ExitLeg, ExitPlan, Order, Position


def entry_insert(
    *, position: Position, plan: ExitPlan, legs: list[ExitLeg], order: Order, one_statement: bool | None = None
) -> None:
    """Insert `position`, `plan` (with `legs`) and `order`, linked to each other; sets their ids. `one_statement`:
    the CTE (default on Postgres) or row by row (the only way elsewhere; tests compare the two)."""
    if one_statement is None:
        one_statement = connection.vendor == "postgresql"
    if not one_statement:
        position.save(force_insert=True)
        plan.position = position
        plan.save(force_insert=True)
        for leg in legs:
            leg.plan = plan
        ExitLeg.objects.bulk_create(legs)
        order.position = position
        order.save(force_insert=True)
        return
    parts: list[str] = []
    params: list = []

    def insert(name: str, rows: list[Model], links: dict[str, str], returning: str) -> None:
        columns, values = _columns_and_values(rows, links, params)
        table = connection.ops.quote_name(rows[0]._meta.db_table)
        parts.append(f"{name} AS (INSERT INTO {table} ({columns}) VALUES {values} RETURNING {returning})")

    insert("p", [position], {}, "id")
    insert("e", [plan], {"position_id": "(SELECT id FROM p)"}, "id")
    if legs:
        insert("l", legs, {"plan_id": "(SELECT id FROM e)"}, 'id, "index"')
    insert("o", [order], {"position_id": "(SELECT id FROM p)"}, "id")
    leg_ids = 'ARRAY(SELECT id FROM l ORDER BY "index")' if legs else "ARRAY[]::bigint[]"
    sql = f"WITH {', '.join(parts)} SELECT (SELECT id FROM p), (SELECT id FROM e), (SELECT id FROM o), {leg_ids}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        position_id, plan_id, order_id, leg_ids = cursor.fetchone()
    position.pk, plan.pk, order.pk = position_id, plan_id, order_id
    plan.position, order.position = position, position
    for leg, leg_id in zip(sorted(legs, key=lambda leg: leg.index), leg_ids):
        leg.pk = leg_id
        leg.plan = plan
    for row in (position, plan, order, *legs):
        row._state.adding, row._state.db = False, connection.alias


def _columns_and_values(rows: list[Model], links: dict[str, str], params: list) -> tuple[str, str]:
    """The column list and the VALUES tuples of `rows` (one model); `links` put SQL in place of a field's value."""
    fields = [f for f in rows[0]._meta.concrete_fields if not f.primary_key or f.attname in links]
    quote = connection.ops.quote_name
    tuples = []
    for row in rows:
        values = []
        for field in fields:
            if field.attname in links:
                values.append(links[field.attname])
                continue
            params.append(field.get_db_prep_save(field.pre_save(row, True), connection=connection))
            values.append("%s")
        tuples.append("(" + ", ".join(values) + ")")
    return ", ".join(quote(f.column) for f in fields), ", ".join(tuples)
