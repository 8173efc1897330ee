"""Exit plans: attach one to every position, keep the position's denormalised trigger prices in step (what the
triggers mean is trading.tpsl's business: trading.tpsl.triggers.position_triggers_refresh)."""

from __future__ import annotations

from django.db import transaction

from trading.errors import Conflict, InvalidInput
from trading.models import ExitLeg, ExitPlan, Position, PositionStatus, Trader
from trading.tpsl.plans import ExitPlanSpec, PlanError, preset, spec_from_json, spec_to_json, spec_validate
from trading.tpsl.triggers import position_triggers_refresh

__all__ = ["exit_plan_build", "exit_plan_create", "exit_plan_update", "exit_spec_resolve", "position_triggers_refresh"]


def exit_spec_resolve(*, spec: ExitPlanSpec | dict | str | None, default: dict | None) -> ExitPlanSpec:
    """A validated spec from a spec, its JSON, a preset name, or the trader's default (balanced if unset)."""
    try:
        if spec is None:
            return spec_from_json(default) if default else preset()
        if isinstance(spec, str):
            return preset(spec)
        if isinstance(spec, dict):
            return spec_from_json(spec)
        if not isinstance(spec, ExitPlanSpec):
            raise PlanError("An exit plan is a preset name or a plan with a stop-loss and take-profits.", "invalid_plan")
        return spec_validate(spec)
    except PlanError as exc:
        raise InvalidInput(exc.message, exc.code) from None


def exit_plan_build(*, position: Position, spec: ExitPlanSpec) -> tuple[ExitPlan, list[ExitLeg]]:
    """The plan and its legs for `position`, not yet saved."""
    plan = ExitPlan(
        position=position,
        preset=spec.name,
        spec=spec_to_json(spec),
        stop_loss_pct=spec.stop_loss_pct,
        trailing_activation_pct=spec.trailing_activation_pct,
        trailing_distance_pct=spec.trailing_distance_pct,
        breakeven_after_first_tp=spec.breakeven_after_first_tp,
        max_hold_seconds=spec.max_hold_seconds,
    )
    legs = [
        ExitLeg(plan=plan, index=i, trigger_multiple=leg.trigger_multiple, fraction=leg.fraction)
        for i, leg in enumerate(spec.take_profits)
    ]
    return plan, legs


def exit_plan_create(*, position: Position, spec: ExitPlanSpec) -> ExitPlan:
    plan, legs = exit_plan_build(position=position, spec=spec)
    plan.save(force_insert=True)
    ExitLeg.objects.bulk_create(legs)
    return plan


def exit_plan_update(*, trader: Trader, position_id: int, spec: ExitPlanSpec | dict | str) -> ExitPlan:
    """Replace a live position's plan; legs already filled stay filled (a new plan's first legs count as done)."""
    resolved = exit_spec_resolve(spec=spec, default=None)
    with transaction.atomic():
        position = Position.objects.select_for_update().filter(id=position_id, trader=trader).first()
        if position is None:
            raise InvalidInput("You have no position with that number.", "position_not_found")
        if position.status not in (PositionStatus.OPENING, PositionStatus.OPEN):
            raise Conflict("That position is not open, so its exit plan cannot change.", "position_not_open")
        done = position.exit_plan.legs.filter(status=ExitLeg.Status.FILLED).count()
        position.exit_plan.delete()
        plan = exit_plan_create(position=position, spec=resolved)
        plan.legs.filter(index__lt=done).update(status=ExitLeg.Status.FILLED)
        position_triggers_refresh(position=position)
        position.save()
    return plan
