"""The exit decision: position state + exit plan + price + now -> the exit to make. Pure: no I/O, no Django.

Rules (docs/exits.md):
- a missing, non-positive or stale price triggers nothing (``price_status`` says which) — except the time stop,
  which needs no price;
- a stop (stop-loss, break-even stop or trailing stop) sells everything and wins over any take-profit in the same
  tick;
- take-profit legs sell their fraction of the ORIGINAL size, capped at what is held; every leg crossed by the price
  and not yet fired is sold in one exit; a leg fires at most once; when the last leg completes a 100% ladder it
  sells whatever is left (no dust);
- a position with an exit in flight, nothing held, or no entry price gets no exit.

Trigger prices are quantized exactly as the database stores them (20 places, half-up), so the index lookup in the
sweep and this function agree to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from trading.prices import PRICE_OK, price_status
from trading.tpsl.plans import ExitPlanSpec

PRICE_PLACES = 20
_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_WIDE = Context(prec=100)


REASON_SL = "sl"
REASON_TRAILING = "trailing"
REASON_TP = "tp"
REASON_TIME = "time"


def price_q(value: Decimal) -> Decimal:
    """A price as the database stores it (numeric(40, 20), rounded half away from zero)."""
    with localcontext(_WIDE):
        return value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def _mul(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(_WIDE):
        return price_q(a * b)


@dataclass(frozen=True)
class PositionState:
    entry_price: Decimal | None
    size: int
    original_size: int
    legs_done: frozenset[int] = frozenset()
    peak_price: Decimal | None = None
    opened_at: datetime | None = None
    exit_in_flight: bool = False


@dataclass(frozen=True)
class Triggers:
    """The next trigger prices of a position, denormalised onto its row for the index lookup."""

    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    trailing_activation_price: Decimal | None = None
    trailing_factor: Decimal | None = None
    trailing_stop_price: Decimal | None = None
    time_stop_at: datetime | None = None


@dataclass(frozen=True)
class ExitAction:
    reason: str
    amount: int
    legs: tuple[int, ...] = ()
    trigger_price: Decimal | None = None


@dataclass(frozen=True)
class Decision:
    exits: tuple[ExitAction, ...]
    price_status: str
    peak_price: Decimal | None
    triggers: Triggers


def trailing_factor(plan: ExitPlanSpec) -> Decimal | None:
    if plan.trailing_distance_pct is None:
        return None
    return _ONE - plan.trailing_distance_pct / _HUNDRED


def stop_price(state: PositionState, plan: ExitPlanSpec) -> Decimal | None:
    """The plain stop: entry minus the stop-loss, raised to entry once a leg fired if the plan says so."""
    if state.entry_price is None:
        return None
    stop = _mul(state.entry_price, plan.stop_multiple)
    if plan.breakeven_after_first_tp and state.legs_done:
        stop = max(stop, price_q(state.entry_price))
    return stop


def leg_price(entry: Decimal, multiple: Decimal) -> Decimal:
    return _mul(entry, multiple)


def triggers_for(state: PositionState, plan: ExitPlanSpec) -> Triggers:
    if state.entry_price is None or state.entry_price <= 0:
        return Triggers()
    entry = state.entry_price
    pending = [leg for i, leg in enumerate(plan.take_profits) if i not in state.legs_done]
    factor = trailing_factor(plan)
    activation = trail = None
    if factor is not None:
        activation = _mul(entry, _ONE + plan.trailing_activation_pct / _HUNDRED)
        peak = state.peak_price
        if peak is not None and peak >= activation:
            trail = _mul(peak, factor)
    time_stop_at = None
    if plan.max_hold_seconds is not None and state.opened_at is not None:
        time_stop_at = state.opened_at + timedelta(seconds=plan.max_hold_seconds)
    return Triggers(
        stop_price=stop_price(state, plan),
        take_profit_price=leg_price(entry, pending[0].trigger_multiple) if pending else None,
        trailing_activation_price=activation,
        trailing_factor=factor,
        trailing_stop_price=trail,
        time_stop_at=time_stop_at,
    )


def _legs_amount(state: PositionState, plan: ExitPlanSpec, legs: tuple[int, ...]) -> int:
    done_after = set(state.legs_done) | set(legs)
    total = sum((leg.fraction for leg in plan.take_profits), Decimal(0))
    if total == _ONE and len(done_after) == len(plan.take_profits):
        return state.size
    wanted = sum(int(plan.take_profits[i].fraction * state.original_size) for i in legs)
    return min(state.size, max(wanted, 1))


def decide(
    state: PositionState,
    plan: ExitPlanSpec,
    price: Decimal | None,
    price_time: datetime | None,
    now: datetime,
    stale_after: timedelta,
) -> Decision:
    status = price_status(price, price_time, now, stale_after)
    peak = state.peak_price
    if status == PRICE_OK and state.entry_price is not None:
        peak = max(peak if peak is not None else state.entry_price, price)
    triggers = triggers_for(replace(state, peak_price=peak), plan)

    def result(*exits: ExitAction) -> Decision:
        return Decision(exits=exits, price_status=status, peak_price=peak, triggers=triggers)

    if state.size <= 0 or state.exit_in_flight or state.entry_price is None or state.entry_price <= 0:
        return result()
    if status == PRICE_OK:
        stop, trail = triggers.stop_price, triggers.trailing_stop_price
        if trail is not None and trail > stop and price <= trail:
            return result(ExitAction(REASON_TRAILING, state.size, trigger_price=trail))
        if price <= stop:
            return result(ExitAction(REASON_SL, state.size, trigger_price=stop))
    if triggers.time_stop_at is not None and now >= triggers.time_stop_at:
        return result(ExitAction(REASON_TIME, state.size))
    if status != PRICE_OK:
        return result()
    crossed = tuple(
        i
        for i, leg in enumerate(plan.take_profits)
        if i not in state.legs_done and leg_price(state.entry_price, leg.trigger_multiple) <= price
    )
    if not crossed:
        return result()
    top = leg_price(state.entry_price, plan.take_profits[crossed[-1]].trigger_multiple)
    return result(ExitAction(REASON_TP, _legs_amount(state, plan, crossed), legs=crossed, trigger_price=top))
