"""Claiming exits: lock the triggered rows, decide, and write every exit order of the tick in ONE statement.

The compare-and-swap is the database's: `INSERT ... ON CONFLICT DO NOTHING` against the partial unique index
`one_inflight_exit_per_position` (one non-terminal sell per position). A trader's sell that got there first wins
and the automatic exit is simply not created; the rows are locked `FOR UPDATE SKIP LOCKED`, so a fill or a sell
holding a row makes the sweep skip it this tick instead of waiting. The rows written are the ones
trading.services.positions.exit_order_create writes (venue, CLOSING on a full exit, legs CLAIMED).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction

from trading.models import ExitLeg, ExitPlan, Order, Position, PositionStatus, TradingSettings
from trading.models.choices import Mode
from trading.prices import PricePoint
from trading.tpsl import portable, retry
from trading.tpsl.decide import PositionState, decide
from trading.tpsl.plans import ExitPlanSpec, PlanError, spec_from_json
from trading.tpsl.triggers import legs_done_from

logger = logging.getLogger(__name__)

CANDIDATES_SQL = f"""
    SELECT p.id, p.entry_price, p.size, p.original_size, p.peak_price, p.opened_at, p.token_id, p.mode,
           p.exit_stuck_at, e.spec::text, s.sell_slippage_bps, s.priority_fee_max_lamports
    FROM {Position._meta.db_table} p
    JOIN {ExitPlan._meta.db_table} e ON e.position_id = p.id
    LEFT JOIN {TradingSettings._meta.db_table} s ON s.trader_id = p.trader_id
    WHERE p.id = ANY(%s) AND p.status = 'open'
    ORDER BY p.id
    FOR UPDATE OF p SKIP LOCKED
"""


@dataclass
class ClaimResult:
    order_ids: list[int] = field(default_factory=list)
    deferred: int = 0
    contested: int = 0


def _legs_by_position(position_ids: list[int]) -> dict[int, tuple[dict[int, int], frozenset[int]]]:
    """position id -> ({leg index: leg id}, legs done)."""
    rows = ExitLeg.objects.filter(plan__position_id__in=position_ids).values_list("plan__position_id", "id", "index", "status")
    ids: dict[int, dict[int, int]] = {}
    filled: dict[int, list[int]] = {}
    for position_id, leg_id, index, status in rows:
        ids.setdefault(position_id, {})[index] = leg_id
        if status == ExitLeg.Status.FILLED:
            filled.setdefault(position_id, []).append(index)
    return {pid: (ids.get(pid, {}), legs_done_from(filled.get(pid, ()))) for pid in position_ids}


def _order_insert(rows: list[dict], now: datetime) -> dict[str, int]:
    """Insert exit orders, skipping any a constraint refuses; returns client id -> order id of those written."""
    if connection.vendor != "postgresql":
        return portable.orders_insert(rows)
    fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    defaults.update(created_at=now, updated_at=now)
    values = [tuple(row.get(f.attname, defaults[f.attname]) for f in fields) for row in rows]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {Order._meta.db_table} ({columns}) VALUES %s ON CONFLICT DO NOTHING RETURNING client_id, id"
    from psycopg2.extras import execute_values

    with connection.cursor() as cursor:
        written = execute_values(cursor.cursor, sql, values, page_size=max(len(values), 1), fetch=True)
    return {str(client_id): order_id for client_id, order_id in written}


def exits_claim(*, candidate_ids: list[int], prices: dict[int, PricePoint], now: datetime, stale_after) -> ClaimResult:
    """Decide and claim the exits of `candidate_ids`; the new exit orders are queued after commit."""
    result = ClaimResult()
    if not candidate_ids:
        return result
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(CANDIDATES_SQL, [list(candidate_ids)])
                rows = cursor.fetchall()
        else:
            rows = portable.claim_rows(candidate_ids=candidate_ids)
        ids = [row[0] for row in rows]
        legs = _legs_by_position(ids)
        failures = retry.failures_for(position_ids=ids)
        retry.stuck_update(stuck_at={row[0]: row[8] for row in rows}, failures=failures, now=now)
        specs: dict[str, ExitPlanSpec | None] = {}
        orders: list[dict] = []
        full_exits: dict[str, int] = {}
        legs_of: dict[str, list[int]] = {}
        for pid, entry, size, original, peak, opened_at, token_id, mode, _, spec_text, slippage, fee in rows:
            if not retry.attempt_due(position_id=pid, failure=failures.get(pid), now=now):
                result.deferred += 1
                continue
            if spec_text not in specs:
                try:
                    specs[spec_text] = spec_from_json(json.loads(spec_text))
                except PlanError:
                    specs[spec_text] = None
            spec = specs[spec_text]
            if spec is None:
                logger.error("position %s has an unreadable exit plan; no automatic exit", pid)
                continue
            leg_ids, done = legs[pid]
            point = prices.get(token_id)
            decision = decide(
                PositionState(entry, size, original, done, peak, opened_at),
                spec,
                None if point is None else point.price,
                None if point is None else datetime.fromtimestamp(point.at, tz=UTC),
                now,
                stale_after,
            )
            for action in decision.exits:
                client_id = str(uuid.uuid4())
                orders.append({
                    "position_id": pid, "side": "sell", "reason": action.reason, "mode": mode,
                    "leg_id": leg_ids.get(action.legs[-1]) if action.legs else None,
                    "venue": "paper" if mode == Mode.PAPER else "", "amount_in": action.amount,
                    "slippage_bps": settings.TPSL_DEFAULT_SELL_SLIPPAGE_BPS if slippage is None else slippage,
                    "priority_fee_lamports": fee or 0, "client_id": client_id, "status": "pending",
                })
                legs_of[client_id] = [leg_ids[i] for i in action.legs if i in leg_ids]
                if action.amount == size:
                    full_exits[client_id] = pid
        if not orders:
            return result
        won = _order_insert(orders, now)
        result.contested = len(orders) - len(won)
        closing = [pid for cid, pid in full_exits.items() if cid in won]
        if closing:
            Position.objects.filter(id__in=closing, status=PositionStatus.OPEN).update(
                status=PositionStatus.CLOSING, updated_at=now
            )
        claimed = [leg for cid, leg_list in legs_of.items() if cid in won for leg in leg_list]
        if claimed:
            ExitLeg.objects.filter(id__in=claimed, status=ExitLeg.Status.PENDING).update(status=ExitLeg.Status.CLAIMED)
        result.order_ids = sorted(won.values())
        from trading.tpsl.sweep import orders_enqueue

        order_ids = result.order_ids
        transaction.on_commit(lambda: orders_enqueue(order_ids=order_ids))
    return result
