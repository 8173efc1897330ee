"""Writing a new position: its row, its exit plan and legs, and its buy order, in one statement on Postgres.

Four INSERTs cost four round trips inside the entry's transaction (which holds the trader's ledger lock); chained
as data-modifying CTEs (trading.services.statements) they cost one. Other databases (the local SQLite desk) save the
rows one by one.
"""

from __future__ import annotations

from django.db import connection

from trading.models import ExitLeg, ExitPlan, Order, Position
from trading.services.statements import Statement, saved


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
    statement = Statement()
    statement.insert("p", [position])
    statement.insert("e", [plan], links={"position_id": "(SELECT id FROM p)"})
    if legs:
        statement.insert("l", legs, links={"plan_id": "(SELECT id FROM e)"}, returning='id, "index"')
    statement.insert("o", [order], links={"position_id": "(SELECT id FROM p)"})
    leg_ids = 'ARRAY(SELECT id FROM l ORDER BY "index")' if legs else "ARRAY[]::bigint[]"
    position_id, plan_id, order_id, leg_ids = statement.run(
        "(SELECT id FROM p)", "(SELECT id FROM e)", "(SELECT id FROM o)", leg_ids
    )
    position.pk, plan.pk, order.pk = position_id, plan_id, order_id
    plan.position, order.position = position, position
    for leg, leg_id in zip(sorted(legs, key=lambda leg: leg.index), leg_ids):
        leg.pk = leg_id
        leg.plan = plan
    saved(position, plan, order, *legs)
