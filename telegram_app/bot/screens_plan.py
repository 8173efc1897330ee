"""Screens: the parts of a position's exit plan a trader shapes beyond stop-loss and take-profits: the trailing stop's
activation and distance, the stop to break-even after the first take-profit, and the time stop. Every figure is
checked by trading.tpsl.plans.spec_validate; a refusal is its one sentence and the plan stays as it was."""

from __future__ import annotations

from dataclasses import replace

from telegram_app import services
from telegram_app.bot.screens_trade import _spec, _update
from trading.tpsl.plans import PlanError, hold_parse, percent_parse, spec_validate

OFF = ("off", "none", "no", "0")


def trailing_prompt(account, inc, position_id):
    _spec(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="plan_trailing", data={"position": int(position_id)})
    return ("Send the trailing stop as two percents: the gain that activates it and how far below the peak it sells, "
            "like: 30 15 (from +30%, sell 15% below the peak). Send off to remove it. /cancel to stop.")


def trailing_figures(account, inc, text, data):
    p, spec = _spec(account, data.get("position", 0))
    parts = text.replace(",", " ").replace("/", " ").split()
    if len(parts) == 1 and parts[0].lower() in OFF:
        activation = distance = None
    elif len(parts) == 2:
        activation = percent_parse(parts[0], what="trailing activation")
        distance = percent_parse(parts[1], what="trailing distance")
    else:
        raise PlanError("Send two percents, the activation gain and the distance, like: 30 15 (or off).",
                        "trailing_incomplete")
    spec = spec_validate(replace(spec, trailing_activation_pct=activation, trailing_distance_pct=distance))
    return _update(account, inc, p.pk, spec, "Trailing stop")


def breakeven_set(account, inc, position_id, on):
    p, spec = _spec(account, position_id)
    return _update(account, inc, p.pk, replace(spec, breakeven_after_first_tp=str(on) == "1"), "Break-even stop")


def time_stop_prompt(account, inc, position_id):
    _spec(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="plan_time", data={"position": int(position_id)})
    return ("Send the longest time to hold the position, like 90m, 24h or 3d (from one minute to a year); it sells "
            "what is left then. Send off to remove it. /cancel to stop.")


def time_stop_set(account, inc, text, data):
    p, spec = _spec(account, data.get("position", 0))
    seconds = None if text.strip().lower() in OFF else hold_parse(text)
    spec = spec_validate(replace(spec, max_hold_seconds=seconds))
    return _update(account, inc, p.pk, spec, "Time stop")
