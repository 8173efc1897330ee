"""Running DCA plans: the beat task `trading.dca_run` places the buys that are due.

Each due plan is claimed on its own, in one transaction: its row is locked (`FOR UPDATE SKIP LOCKED` where the database
has row locks) and must still be active and due, and the round is written with the buy, so a round runs at most once
(the unique (plan, run) of DcaBuy guards it too). The buy is an ordinary buy through position_open (kill switch, risk
limits, balance; its position gets the plan's exit plan or the trader's default).

Stop conditions, checked before each buy: the price above the plan's ceiling, or the buy taking the total placed past
the plan's cap; either ends the plan (`done`, with the sentence why). A round the desk refuses (a risk limit, the
balance, no price) is recorded with the refusal and counts as a round; the kill switch pauses the plan instead (the
trader resumes it). The plan ends after `buys_total` rounds. The trader is told of each of these (`dca.notice`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading.errors import KillSwitchOn, TradingError
from trading.events import event_publish
from trading.models import DcaBuy, DcaPlan, OrderReason
from trading.models.choices import LAMPORTS_PER_SOL
from trading.prices import price_fresh
from trading.services.positions import position_open

DUE_BATCH = 200


def _sol(lamports: int) -> str:
    return f"{lamports / LAMPORTS_PER_SOL:.4f}".rstrip("0").rstrip(".") + " SOL"


def _notice(plan: DcaPlan, status: str, note: str) -> None:
    event_publish(kind="dca.notice", trader=plan.trader, payload={
        "plan_id": plan.id, "status": status, "note": note, "buys_done": plan.buys_done, "buys_total": plan.buys_total,
        "spent_lamports": plan.spent_lamports, "mint": plan.token.mint, "symbol": plan.token.symbol,
    })


def _stop_reason(plan: DcaPlan, price) -> str | None:
    if plan.price_ceiling is not None and price is not None and price > plan.price_ceiling:
        return (f"Stopped: the price ({price:.6g} SOL) is above your ceiling of "
                f"{plan.price_ceiling.normalize():f} SOL.")
    if plan.spend_cap_lamports is not None and plan.spent_lamports + plan.amount_lamports > plan.spend_cap_lamports:
        return (f"Stopped: {_sol(plan.spent_lamports)} spent; another buy would pass your total of "
                f"{_sol(plan.spend_cap_lamports)}.")
    return None


def dca_round(*, plan_id: int, now: datetime | None = None) -> str | None:
    """Run the due round of one plan. Returns what happened (bought, refused, paused, stopped, done) or None when the
    plan was not due, not active, or being run elsewhere."""
    now = now or timezone.now()
    plan = DcaPlan.objects.select_related("token").filter(id=plan_id, state=DcaPlan.State.ACTIVE).first()
    if plan is None:
        return None
    # the price the ceiling is judged on: no older than an exit's (a network look-up at worst: before the row lock)
    point = price_fresh(mint=plan.token.mint, max_age=settings.TPSL_PRICE_MAX_AGE_SECONDS)
    with transaction.atomic():
        plan = (DcaPlan.objects.select_for_update(of=("self",), skip_locked=True).select_related("token", "trader")
                .filter(id=plan_id, state=DcaPlan.State.ACTIVE, next_run_at__lte=now).first())
        if plan is None:
            return None
        stop = _stop_reason(plan, None if point is None else point.price)
        if stop is not None:
            plan.state, plan.note = DcaPlan.State.DONE, stop
            plan.save(update_fields=["state", "note", "updated_at"])
            _notice(plan, "stopped", stop)
            return "stopped"
        run = plan.runs + 1
        try:
            with transaction.atomic():
                position = position_open(trader=plan.trader, mint=plan.token.mint, amount_lamports=plan.amount_lamports,
                                         exit_plan=plan.exit_plan or None, reason=OrderReason.DCA)
        except KillSwitchOn as exc:
            plan.state, plan.note = DcaPlan.State.PAUSED, f"Paused: {exc.message} Resume it with /orders."
            plan.save(update_fields=["state", "note", "updated_at"])
            _notice(plan, "paused", plan.note)
            return "paused"
        except TradingError as exc:
            DcaBuy.objects.create(plan=plan, run=run, amount_lamports=plan.amount_lamports, note=exc.message[:300])
            outcome, note = "refused", f"Buy {run} of {plan.buys_total} was not placed: {exc.message}"
        else:
            DcaBuy.objects.create(plan=plan, run=run, position=position, amount_lamports=plan.amount_lamports)
            plan.buys_done += 1
            plan.spent_lamports += plan.amount_lamports
            outcome, note = "bought", ""
        plan.runs = run
        following = plan.next_run_at + timedelta(seconds=plan.interval_seconds)
        plan.next_run_at = following if following > now else now + timedelta(seconds=plan.interval_seconds)
        if run >= plan.buys_total:
            plan.state, plan.note = DcaPlan.State.DONE, f"Done: {plan.buys_done} of {plan.buys_total} buys placed."
            outcome = "done"
        elif outcome == "bought" and (stop := _stop_reason(plan, None)) is not None:
            plan.state, plan.note, outcome = DcaPlan.State.DONE, stop, "stopped"
        plan.save(update_fields=["runs", "buys_done", "spent_lamports", "next_run_at", "state", "note", "updated_at"])
        if outcome == "refused":
            _notice(plan, "refused", note)
        elif outcome in ("done", "stopped"):
            _notice(plan, outcome, plan.note)
    return outcome


def dca_due_run(*, now: datetime | None = None) -> dict[int, str]:
    """Run every due round (the beat task's body): plan id -> what happened, for the plans this run handled."""
    now = now or timezone.now()
    due = list(DcaPlan.objects.filter(state=DcaPlan.State.ACTIVE, next_run_at__lte=now)
               .order_by("next_run_at").values_list("id", flat=True)[:DUE_BATCH])
    done = {}
    for plan_id in due:
        outcome = dca_round(plan_id=plan_id, now=now)
        if outcome is not None:
            done[plan_id] = outcome
    return done
