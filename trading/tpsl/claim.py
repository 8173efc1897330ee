"""Claiming exits: lock the triggered rows, decide, and write every exit order of the tick in one bulk insert.

The compare-and-swap is the database's: `INSERT ... ON CONFLICT DO NOTHING` (bulk_create with ignore_conflicts)
against the partial unique index `one_inflight_exit_per_position` (one non-terminal sell per position). A trader's
sell that got there first wins and the automatic exit is simply not created; the rows are locked `FOR UPDATE SKIP
LOCKED` (on a database with row locks; SQLite serialises writers anyway), so a fill or a sell holding a row makes the
sweep skip it this tick instead of waiting. The orders are built by the one order builder
(trading.services.orders.order_build) and reserve what a trader's sell reserves (exits_mark_claimed).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction

from trading.models import ExitLeg, Order, Position, PositionStatus, TradingSettings
from trading.models.choices import ORDER_IN_FLIGHT, OrderSide
from trading.prices import PricePoint
from trading.services.orders import order_build
from trading.services.positions import exits_mark_claimed
from trading.tpsl import retry
from trading.tpsl.decide import PositionState, decide
from trading.tpsl.plans import ExitPlanSpec, PlanError, spec_from_json
from trading.tpsl.publish import orders_enqueue
from trading.tpsl.triggers import legs_done_from

logger = logging.getLogger(__name__)


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


def exits_claim(*, candidate_ids: list[int], prices: dict[int, PricePoint], now: datetime, stale_after) -> ClaimResult:
    """Decide and claim the exits of `candidate_ids`; the new exit orders are queued after commit."""
    result = ClaimResult()
    if not candidate_ids:
        return result
    with transaction.atomic():
        positions = list(
            Position.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(id__in=candidate_ids, status=PositionStatus.OPEN)
            .select_related("exit_plan")
            .order_by("id")
        )
        ids = [position.id for position in positions]
        prefs = {row.trader_id: row for row in TradingSettings.objects.filter(trader_id__in={p.trader_id for p in positions})}
        specs: dict[str, ExitPlanSpec | None] = {}
        legs = _legs_by_position(ids)
        failures = retry.failures_for(position_ids=ids)
        retry.stuck_update(stuck_at={p.id: p.exit_stuck_at for p in positions}, failures=failures, now=now)
        orders: list[Order] = []
        full_exits: dict[str, int] = {}
        legs_of: dict[str, list[int]] = {}
        for position in positions:
            pid = position.id
            if not retry.attempt_due(position_id=pid, failure=failures.get(pid), now=now):
                result.deferred += 1
                continue
            spec = _spec(position, specs)
            if spec is None:
                logger.error("position %s has an unreadable exit plan; no automatic exit", pid)
                continue
            leg_ids, done = legs[pid]
            point = prices.get(position.token_id)
            decision = decide(
                PositionState(
                    position.entry_price, position.size, position.original_size, done, position.peak_price,
                    position.opened_at,
                ),
                spec,
                None if point is None else point.price,
                None if point is None else datetime.fromtimestamp(point.at, tz=UTC),
                now,
                stale_after,
            )
            for action in decision.exits:
                order = order_build(
                    position=position,
                    side=OrderSide.SELL,
                    reason=action.reason,
                    amount=action.amount,
                    prefs=prefs.get(position.trader_id),
                    leg_id=leg_ids.get(action.legs[-1]) if action.legs else None,
                )
                orders.append(order)
                client_id = str(order.client_id)
                legs_of[client_id] = [leg_ids[i] for i in action.legs if i in leg_ids]
                if action.amount == position.size:
                    full_exits[client_id] = pid
        if not orders:
            return result
        Order.objects.bulk_create(orders, ignore_conflicts=True)
        # One sell in flight per position: the one there now is either this tick's (its client id) or the winner's.
        in_flight = Order.objects.filter(
            position_id__in={o.position_id for o in orders}, side=OrderSide.SELL, status__in=ORDER_IN_FLIGHT
        )
        built = {str(o.client_id) for o in orders}
        won = {cid: oid for cid, oid in ((str(c), i) for c, i in in_flight.values_list("client_id", "id")) if cid in built}
        result.contested = len(orders) - len(won)
        exits_mark_claimed(
            closing=[pid for cid, pid in full_exits.items() if cid in won],
            leg_ids=[leg for cid, leg_list in legs_of.items() if cid in won for leg in leg_list],
        )
        result.order_ids = order_ids = sorted(won.values())
        transaction.on_commit(lambda: orders_enqueue(order_ids=order_ids))
    return result


def _spec(position: Position, parsed: dict[str, ExitPlanSpec | None]) -> ExitPlanSpec | None:
    """The position's plan, parsed once per distinct plan of the tick (most positions share a preset)."""
    plan = getattr(position, "exit_plan", None)
    if plan is None:
        return None
    key = json.dumps(plan.spec, sort_keys=True)
    if key not in parsed:
        try:
            parsed[key] = spec_from_json(plan.spec)
        except PlanError:
            parsed[key] = None
    return parsed[key]
