"""Screens: the parts of an exit plan a trader shapes beyond stop-loss and take-profits: the trailing stop's
activation and distance, the stop to break-even after the first take-profit, and the time stop; of one position
(target: its id) or of the default plan new positions get (/plan; target "d"). Every figure is checked by
trading.tpsl.plans.spec_validate; a refusal is its one sentence and the plan stays as it was."""

from __future__ import annotations

from dataclasses import replace

from telegram_app import services
from telegram_app.bot.core import Screen
from telegram_app.bot.screens_trade import _spec, _update
from trading.services import trading_settings_get, trading_settings_update
from trading.tpsl.plans import (
    PlanError,
    hold_parse,
    percent_parse,
    preset,
    spec_from_json,
    spec_summary,
    spec_to_json,
    spec_validate,
)

OFF = ("off", "none", "no", "0")
DEFAULT = "d"


def _default_spec(account):
    saved = trading_settings_get(trader=account.trader).default_exit_plan
    return spec_from_json(saved) if saved else preset()


def _load(account, target):
    """(position or None, its plan): the default plan for target "d", else the trader's own position's."""
    if str(target) == DEFAULT:
        return None, _default_spec(account)
    return _spec(account, target)


def _save(account, inc, target, spec, what: str):
    if str(target) != DEFAULT:
        return _update(account, inc, int(target), spec, what)
    trading_settings_update(trader=account.trader, default_exit_plan=spec_to_json(replace(spec, name="custom")))
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Screen(f"{what} updated for new positions. Default exit plan: {spec_summary(spec)}").button("« Plan", "pl")


def plan(account, inc, *args):
    """/plan: the default exit plan new positions get, and what a trader can shape in it."""
    spec = _default_spec(account)
    return (Screen(f"Default exit plan for new positions: {spec_summary(spec)}\nLadder presets are in /settings; a "
                   "position's own plan is changed from its screen in /positions.")
            .row(("Trailing figures", "tf", DEFAULT),
                 (f"Break-even after TP1 {'off' if spec.breakeven_after_first_tp else 'on'}", "be", DEFAULT,
                  0 if spec.breakeven_after_first_tp else 1))
            .row(("Time stop", "ts", DEFAULT), ("Cancel", "no")))


def _target(position_id) -> str | int:
    return DEFAULT if str(position_id) == DEFAULT else int(position_id)


def trailing_prompt(account, inc, position_id):
    _load(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="plan_trailing",
                              data={"position": _target(position_id)})
    return ("Send the trailing stop as two percents: the gain that activates it and how far below the peak it sells, "
            "like: 30 15 (from +30%, sell 15% below the peak). Send off to remove it. /cancel to stop.")


def trailing_figures(account, inc, text, data):
    target = data.get("position", 0)
    _, spec = _load(account, target)
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
    return _save(account, inc, target, spec, "Trailing stop")


def breakeven_set(account, inc, position_id, on):
    _, spec = _load(account, position_id)
    return _save(account, inc, position_id, replace(spec, breakeven_after_first_tp=str(on) == "1"), "Break-even stop")


def time_stop_prompt(account, inc, position_id):
    _load(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="plan_time", data={"position": _target(position_id)})
    return ("Send the longest time to hold the position, like 90m, 24h or 3d (from one minute to a year); it sells "
            "what is left then. Send off to remove it. /cancel to stop.")


def time_stop_set(account, inc, text, data):
    target = data.get("position", 0)
    _, spec = _load(account, target)
    seconds = None if text.strip().lower() in OFF else hold_parse(text)
    spec = spec_validate(replace(spec, max_hold_seconds=seconds))
    return _save(account, inc, target, spec, "Time stop")
