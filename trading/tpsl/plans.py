"""Exit plans: what a position sells, and when. Pure values, no Django models, no I/O.

Units used throughout the TP/SL engine:
- ``trigger_multiple``: price as a multiple of the entry price (``2`` = 2x = +100%).
- ``fraction``: part of the position's ORIGINAL size a take-profit leg sells, ``0 < f <= 1``.
- ``*_pct``: percent as a number (``20`` = 20%).

A plan is stored as JSON (``spec_to_json`` / ``spec_from_json``) with every Decimal written as a string,
so a round trip never goes through float.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from trading.errors import InvalidInput
from trading.numbers import plain_decimal

JSON_VERSION = 1
DEFAULT_PRESET = "balanced"

STOP_LOSS_MIN_PCT = Decimal("5")
STOP_LOSS_MAX_PCT = Decimal("99")
SINGLE_TP_MIN_MULTIPLE = Decimal("1.05")  # +5%
SINGLE_TP_MAX_MULTIPLE = Decimal("6")  # +500%
LADDER_MAX_MULTIPLE = Decimal("1000")
MAX_LEGS = 10
TRAILING_DISTANCE_MIN_PCT = Decimal("1")
TRAILING_DISTANCE_MAX_PCT = Decimal("90")
TRAILING_ACTIVATION_MAX_PCT = Decimal("10000")
MAX_HOLD_MIN_SECONDS = 60
MAX_HOLD_MAX_SECONDS = 365 * 24 * 3600
MAX_PLACES = 4  # percents, fractions and multiples fit the ExitPlan/ExitLeg decimal columns

_ONE = Decimal(1)
_HUNDRED = Decimal(100)


class PlanError(InvalidInput):
    """An exit plan a trader cannot have. ``message`` is one plain sentence; ``code`` is stable (a ValueError too)."""

    code = "invalid_exit_plan"

    def __init__(self, message: str, code: str = "invalid_exit_plan"):
        super().__init__(message, code)


@dataclass(frozen=True)
class TakeProfitLeg:
    trigger_multiple: Decimal
    fraction: Decimal


@dataclass(frozen=True)
class ExitPlanSpec:
    stop_loss_pct: Decimal
    take_profits: tuple[TakeProfitLeg, ...]
    trailing_activation_pct: Decimal | None = None
    trailing_distance_pct: Decimal | None = None
    breakeven_after_first_tp: bool = False
    max_hold_seconds: int | None = None
    name: str = field(default="custom", compare=False)

    @property
    def has_trailing(self) -> bool:
        return self.trailing_distance_pct is not None

    @property
    def stop_multiple(self) -> Decimal:
        """The stop-loss price as a multiple of entry (20% stop -> 0.8)."""
        return _ONE - self.stop_loss_pct / _HUNDRED

    @property
    def is_single_pair(self) -> bool:
        return len(self.take_profits) == 1 and self.take_profits[0].fraction == _ONE


def _legs(*pairs: tuple[str, str]) -> tuple[TakeProfitLeg, ...]:
    return tuple(TakeProfitLeg(Decimal(m), Decimal(f)) for m, f in pairs)


PRESETS: dict[str, ExitPlanSpec] = {
    "conservative": ExitPlanSpec(
        Decimal("20"), _legs(("1.5", "0.5"), ("2", "0.3"), ("3", "0.2")), name="conservative"
    ),
    "balanced": ExitPlanSpec(Decimal("20"), _legs(("2", "0.5"), ("5", "0.3"), ("10", "0.2")), name="balanced"),
    "aggressive": ExitPlanSpec(Decimal("20"), _legs(("3", "0.4"), ("10", "0.35"), ("25", "0.25")), name="aggressive"),
    "moon": ExitPlanSpec(Decimal("20"), _legs(("5", "0.25"), ("20", "0.35"), ("50", "0.4")), name="moon"),
    "single": ExitPlanSpec(Decimal("20"), _legs(("1.5", "1")), name="single"),
}


def preset(name: str = DEFAULT_PRESET) -> ExitPlanSpec:
    key = (name or DEFAULT_PRESET).strip().lower()
    if key not in PRESETS:
        choices = ", ".join(PRESETS)
        raise PlanError(f"There is no exit plan preset called {name!r}; choose one of {choices}.", "unknown_preset")
    return PRESETS[key]


# --- parsing trader input -----------------------------------------------------------------------

def _plain(text: str, *, what: str, example: str, code: str) -> Decimal:
    """The strict reading every parser shares (trading.numbers): ASCII digits and one dot, nothing else."""
    try:
        return plain_decimal(text, what=what, example=example)
    except InvalidInput as exc:
        raise PlanError(exc.message, code) from None


def trigger_parse(text: str | Decimal) -> Decimal:
    """A take-profit trigger as a multiple of entry: ``"2x"`` -> 2, ``"+50%"`` -> 1.5."""
    if isinstance(text, Decimal):
        return text
    raw = str(text).strip()
    message = f"{raw[:20]!r} is not a take-profit trigger; write a multiple like 2x or a gain like +50%."
    if raw[-1:] in ("x", "X"):
        return _plain(raw[:-1], what="a take-profit multiple", example="2x", code="invalid_trigger")
    if raw[-1:] == "%" and raw[:1] != "-":
        gain = _plain(raw[:-1].removeprefix("+"), what="a take-profit gain", example="+50%", code="invalid_trigger")
        return _ONE + gain / _HUNDRED
    raise PlanError(message, "invalid_trigger")


def percent_parse(text: str | Decimal, *, what: str) -> Decimal:
    """``"20%"``, ``"-20%"``, ``"20"`` -> Decimal("20") (the sign is ignored: a stop is always below entry)."""
    if isinstance(text, Decimal):
        return abs(text)
    raw = str(text).strip().removesuffix("%").rstrip()
    raw = raw[1:].lstrip() if raw[:1] in ("+", "-") else raw
    return _plain(raw, what=f"the {what} as a percentage", example="20%", code="invalid_percent")


_HOLD_UNITS = {"m": 60, "h": 3600, "d": 86400}


def hold_parse(text: str) -> int:
    """A maximum hold time: ``"90m"``, ``"24h"``, ``"3d"`` -> seconds (validated by spec_validate)."""
    raw = str(text or "").strip().lower().replace(" ", "")
    unit = _HOLD_UNITS.get(raw[-1:])
    if unit is None or not raw[:-1].isascii() or not raw[:-1].isdigit() or len(raw) > 8:
        raise PlanError(f"{raw[:20]!r} is not a hold time; write minutes, hours or days like 90m, 24h or 3d.",
                        "invalid_time_stop")
    return int(raw[:-1]) * unit


def spec_custom(
    *,
    stop_loss: str | Decimal,
    take_profits: list[tuple[str | Decimal, str | Decimal]],
    trailing_activation: str | Decimal | None = None,
    trailing_distance: str | Decimal | None = None,
    breakeven_after_first_tp: bool = False,
    max_hold_seconds: int | None = None,
) -> ExitPlanSpec:
    """Build and validate a plan from trader input; leg fractions are percents of the original size."""
    legs = tuple(
        TakeProfitLeg(trigger_parse(trigger), percent_parse(fraction, what="take-profit size") / _HUNDRED)
        for trigger, fraction in take_profits
    )
    spec = ExitPlanSpec(
        stop_loss_pct=percent_parse(stop_loss, what="stop-loss"),
        take_profits=legs,
        trailing_activation_pct=None
        if trailing_activation is None
        else percent_parse(trailing_activation, what="trailing activation"),
        trailing_distance_pct=None
        if trailing_distance is None
        else percent_parse(trailing_distance, what="trailing distance"),
        breakeven_after_first_tp=breakeven_after_first_tp,
        max_hold_seconds=max_hold_seconds,
    )
    return spec_validate(spec)


def spec_single(*, take_profit: str | Decimal = "+50%", stop_loss: str | Decimal = "20%") -> ExitPlanSpec:
    """The single TP/SL pair (default +50% / -20%): sells everything at the take-profit."""
    spec = spec_custom(stop_loss=stop_loss, take_profits=[(take_profit, "100%")])
    return replace(spec, name="single")


# --- validation ---------------------------------------------------------------------------------


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _pct_of_multiple(multiple: Decimal) -> str:
    return f"+{_fmt((multiple - _ONE) * _HUNDRED)}%"


def spec_validate(spec: ExitPlanSpec) -> ExitPlanSpec:
    """Return ``spec`` if a trader may have it, else raise ``PlanError`` with a sentence saying why."""
    for value in (spec.stop_loss_pct, spec.trailing_activation_pct, spec.trailing_distance_pct):
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
            raise PlanError("Every number in an exit plan must be a finite decimal.")
    numbers = [spec.stop_loss_pct, spec.trailing_activation_pct, spec.trailing_distance_pct]
    if isinstance(spec.take_profits, tuple):
        numbers += [n for leg in spec.take_profits if isinstance(leg, TakeProfitLeg) for n in (leg.trigger_multiple, leg.fraction)]
    for value in numbers:
        if isinstance(value, Decimal) and value.is_finite() and value.normalize().as_tuple().exponent < -MAX_PLACES:
            raise PlanError(f"Use at most {MAX_PLACES - 2} decimal places in percentages.", "too_precise")
    if not STOP_LOSS_MIN_PCT <= spec.stop_loss_pct <= STOP_LOSS_MAX_PCT:
        raise PlanError(
            f"The stop-loss must be between {STOP_LOSS_MIN_PCT}% and {STOP_LOSS_MAX_PCT}% below entry; "
            f"you asked for {_fmt(spec.stop_loss_pct)}%.",
            "stop_loss_out_of_range",
        )
    legs = spec.take_profits
    if not isinstance(legs, tuple) or not legs:
        raise PlanError("An exit plan needs at least one take-profit.", "no_take_profit")
    if len(legs) > MAX_LEGS:
        raise PlanError(f"An exit plan can have at most {MAX_LEGS} take-profit legs.", "too_many_legs")
    for leg in legs:
        if not (isinstance(leg.trigger_multiple, Decimal) and leg.trigger_multiple.is_finite()):
            raise PlanError("Every take-profit trigger must be a finite decimal.")
        if not (isinstance(leg.fraction, Decimal) and leg.fraction.is_finite()):
            raise PlanError("Every take-profit size must be a finite decimal.")
        if not 0 < leg.fraction <= _ONE:
            raise PlanError(
                f"A take-profit must sell more than 0% and at most 100% of the position; "
                f"got {_fmt(leg.fraction * _HUNDRED)}%.",
                "leg_fraction_out_of_range",
            )
    top = SINGLE_TP_MAX_MULTIPLE if spec.is_single_pair else LADDER_MAX_MULTIPLE
    for leg in legs:
        if not SINGLE_TP_MIN_MULTIPLE <= leg.trigger_multiple <= top:
            raise PlanError(
                f"A take-profit must be between {_pct_of_multiple(SINGLE_TP_MIN_MULTIPLE)} and "
                f"{_pct_of_multiple(top)} ({_fmt(top)}x); got {_fmt(leg.trigger_multiple)}x.",
                "take_profit_out_of_range",
            )
    for lower, upper in zip(legs, legs[1:]):
        if upper.trigger_multiple <= lower.trigger_multiple:
            raise PlanError("Take-profit legs must go up: list each trigger higher than the one before.", "legs_not_rising")
    total = sum((leg.fraction for leg in legs), Decimal(0))
    if total > _ONE:
        raise PlanError(
            f"The take-profit legs sell {_fmt(total * _HUNDRED)}% of the position; together they can sell at most 100%.",
            "legs_exceed_position",
        )
    if (spec.trailing_activation_pct is None) != (spec.trailing_distance_pct is None):
        raise PlanError("A trailing stop needs both an activation gain and a distance.", "trailing_incomplete")
    if spec.trailing_distance_pct is not None:
        if not TRAILING_DISTANCE_MIN_PCT <= spec.trailing_distance_pct <= TRAILING_DISTANCE_MAX_PCT:
            raise PlanError(
                f"The trailing distance must be between {TRAILING_DISTANCE_MIN_PCT}% and "
                f"{TRAILING_DISTANCE_MAX_PCT}% below the peak.",
                "trailing_out_of_range",
            )
        if not 0 <= spec.trailing_activation_pct <= TRAILING_ACTIVATION_MAX_PCT:
            raise PlanError(
                f"The trailing stop must activate at a gain between 0% and {TRAILING_ACTIVATION_MAX_PCT}%.",
                "trailing_out_of_range",
            )
    if not isinstance(spec.breakeven_after_first_tp, bool):
        raise PlanError("The break-even option must be yes or no.")
    if spec.max_hold_seconds is not None:
        if isinstance(spec.max_hold_seconds, bool) or not isinstance(spec.max_hold_seconds, int):
            raise PlanError("The maximum hold time must be a whole number of seconds.", "time_stop_out_of_range")
        if not MAX_HOLD_MIN_SECONDS <= spec.max_hold_seconds <= MAX_HOLD_MAX_SECONDS:
            raise PlanError("The maximum hold time must be between one minute and one year.", "time_stop_out_of_range")
    return spec


# --- JSON ---------------------------------------------------------------------------------------


def spec_to_json(spec: ExitPlanSpec) -> dict:
    return {
        "version": JSON_VERSION,
        "name": spec.name,
        "stop_loss_pct": str(spec.stop_loss_pct),
        "take_profits": [
            {"trigger_multiple": str(leg.trigger_multiple), "fraction": str(leg.fraction)} for leg in spec.take_profits
        ],
        "trailing": None
        if spec.trailing_distance_pct is None
        else {"activation_pct": str(spec.trailing_activation_pct), "distance_pct": str(spec.trailing_distance_pct)},
        "breakeven_after_first_tp": spec.breakeven_after_first_tp,
        "max_hold_seconds": spec.max_hold_seconds,
    }


def _dec(value, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PlanError(f"The stored exit plan has a bad {what}.", "invalid_plan_json")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError):
        raise PlanError(f"The stored exit plan has a bad {what}.", "invalid_plan_json") from None
    return result


def spec_from_json(data: dict) -> ExitPlanSpec:
    """The inverse of ``spec_to_json``; validates, so a bad stored plan is an error, never a silent default."""
    if not isinstance(data, dict) or data.get("version") != JSON_VERSION:
        raise PlanError("The stored exit plan is not in a format this version understands.", "invalid_plan_json")
    try:
        legs = tuple(
            TakeProfitLeg(_dec(leg["trigger_multiple"], "take-profit trigger"), _dec(leg["fraction"], "take-profit size"))
            for leg in data["take_profits"]
        )
        trailing = data.get("trailing")
        spec = ExitPlanSpec(
            stop_loss_pct=_dec(data["stop_loss_pct"], "stop-loss"),
            take_profits=legs,
            trailing_activation_pct=None if trailing is None else _dec(trailing["activation_pct"], "trailing activation"),
            trailing_distance_pct=None if trailing is None else _dec(trailing["distance_pct"], "trailing distance"),
            breakeven_after_first_tp=data.get("breakeven_after_first_tp", False),
            max_hold_seconds=data.get("max_hold_seconds"),
            name=str(data.get("name") or "custom"),
        )
    except (KeyError, TypeError):
        raise PlanError("The stored exit plan is missing a field.", "invalid_plan_json") from None
    return spec_validate(spec)


def spec_summary(spec: ExitPlanSpec, *, legs_done: int = 0) -> str:
    """One line a trader can read: ``TP 2x 50% ✓, 5x 30%, 10x 20% · SL -20% · trail 10% after +30% · max 24h``."""
    legs = ", ".join(
        f"{_fmt(leg.trigger_multiple)}x {_fmt(leg.fraction * _HUNDRED)}%" + (" done" if index < legs_done else "")
        for index, leg in enumerate(spec.take_profits)
    )
    parts = [f"TP {legs}", f"SL -{_fmt(spec.stop_loss_pct)}%"]
    if spec.breakeven_after_first_tp:
        parts.append("stop to break-even after first TP")
    if spec.has_trailing:
        parts.append(f"trail {_fmt(spec.trailing_distance_pct)}% after +{_fmt(spec.trailing_activation_pct)}%")
    if spec.max_hold_seconds:
        hours = Decimal(spec.max_hold_seconds) / Decimal(3600)
        parts.append(f"max hold {_fmt(hours.quantize(Decimal('0.01')))}h")
    return " · ".join(parts)
