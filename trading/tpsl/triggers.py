"""The denormalised trigger prices of a position, computed from its exit plan by the pure rules in decide.py.

The trading core calls `position_triggers_refresh` inside every fill and plan change, so the columns the sweep looks
up by index are always the ones `decide` would use.
"""

from __future__ import annotations

from django.utils import timezone

from trading.models import ExitLeg, ExitPlan, Position, PositionStatus
from trading.tpsl.decide import PositionState, triggers_for
from trading.tpsl.plans import ExitPlanSpec, spec_from_json

TRIGGER_FIELDS = (
    "stop_price",
    "take_profit_price",
    "trailing_stop_price",
    "trailing_activation_price",
    "trailing_factor",
    "time_stop_at",
)


def legs_done_from(filled_indexes) -> frozenset[int]:
    """Legs are a rising prefix: a filled leg means every lower leg is done too (a gap sells them in one order)."""
    top = max(filled_indexes, default=-1)
    return frozenset(range(top + 1))


def position_state(position: Position, legs_done: frozenset[int], *, exit_in_flight: bool = False) -> PositionState:
    return PositionState(
        entry_price=position.entry_price,
        size=position.size,
        original_size=position.original_size,
        legs_done=legs_done,
        peak_price=position.peak_price,
        opened_at=position.opened_at,
        exit_in_flight=exit_in_flight,
    )


def triggers_fields(position: Position, spec: ExitPlanSpec, legs_done: frozenset[int]) -> dict:
    if position.status != PositionStatus.OPEN or position.entry_price is None:
        return dict.fromkeys(TRIGGER_FIELDS)
    triggers = triggers_for(position_state(position, legs_done), spec)
    return {name: getattr(triggers, name) for name in TRIGGER_FIELDS}


def position_triggers_compute(*, position: Position, plan: ExitPlan, legs_filled: list[int] | None = None) -> dict:
    """The trigger fields for `position` under `plan` (the caller sets and saves them in its transaction).
    `legs_filled`: the indexes of the plan's filled legs, if the caller knows them (else they are read).

    Also completes the leg prefix: legs below the highest filled leg are marked filled.
    """
    if legs_filled is None:
        legs_filled = list(plan.legs.filter(status=ExitLeg.Status.FILLED).values_list("index", flat=True))
    filled = legs_filled
    legs_done = legs_done_from(filled)
    if filled and len(filled) < len(legs_done):
        plan.legs.filter(index__in=legs_done).exclude(status=ExitLeg.Status.FILLED).update(
            status=ExitLeg.Status.FILLED, filled_at=timezone.now()
        )
    fields = triggers_fields(position, spec_from_json(plan.spec), legs_done)
    if position.size == 0:
        fields["exit_stuck_at"] = None
    return fields


def position_triggers_refresh(*, position: Position, legs_filled: list[int] | None = None) -> None:
    """Set the position's trigger fields from its exit plan (not saved: the caller saves inside its transaction).
    `legs_filled`: the indexes of the plan's filled legs when the caller knows them (read from the database otherwise)."""
    for field, value in position_triggers_compute(position=position, plan=position.exit_plan, legs_filled=legs_filled).items():
        setattr(position, field, value)
