"""Hypothesis strategies for exit plans, shared by the plan and decision properties."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from trading.tpsl.plans import ExitPlanSpec, TakeProfitLeg


@st.composite
def exit_plans(
    draw, *, max_trigger: str = "1000", max_legs: int = 5, max_activation: int = 200, max_hold: int = 365 * 24 * 3600
):
    """Valid plans: rising legs whose fractions add up to at most 100%, optional trailing and time stops."""
    count = draw(st.integers(min_value=1, max_value=max_legs))
    triggers = sorted(
        draw(st.sets(st.decimals(min_value="1.05", max_value=max_trigger, places=2), min_size=count, max_size=count))
    )
    remaining = Decimal(100)
    legs = []
    for trigger in triggers:
        if remaining <= 0:
            break
        frac = draw(st.decimals(min_value="0.01", max_value=remaining, places=2))
        remaining -= frac
        legs.append(TakeProfitLeg(trigger, frac / 100))
    if len(legs) == 1 and legs[0].fraction == 1 and legs[0].trigger_multiple > 6:
        legs = [TakeProfitLeg(Decimal(6), Decimal(1))]  # the single pair's limit
    trailing = draw(st.booleans())
    return ExitPlanSpec(
        stop_loss_pct=draw(st.decimals(min_value=5, max_value=99, places=1)),
        take_profits=tuple(legs),
        trailing_activation_pct=draw(st.decimals(min_value=0, max_value=max_activation, places=1)) if trailing else None,
        trailing_distance_pct=draw(st.decimals(min_value=1, max_value=90, places=1)) if trailing else None,
        breakeven_after_first_tp=draw(st.booleans()),
        max_hold_seconds=draw(st.none() | st.integers(min_value=60, max_value=max_hold)),
    )
