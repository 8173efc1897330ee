"""Exit plan values: presets, limits, trader-readable errors, JSON round trip."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tpsl.strategies import exit_plans
from trading.tpsl.plans import (
    PRESETS,
    ExitPlanSpec,
    PlanError,
    TakeProfitLeg,
    preset,
    spec_custom,
    spec_from_json,
    spec_single,
    spec_summary,
    spec_to_json,
    spec_validate,
    trigger_parse,
)

D = Decimal


def legs_of(spec):
    return [(leg.trigger_multiple, leg.fraction) for leg in spec.take_profits]


def test_presets_are_the_documented_ladders():
    assert legs_of(PRESETS["conservative"]) == [(D("1.5"), D("0.5")), (D(2), D("0.3")), (D(3), D("0.2"))]
    assert legs_of(PRESETS["balanced"]) == [(D(2), D("0.5")), (D(5), D("0.3")), (D(10), D("0.2"))]
    assert legs_of(PRESETS["aggressive"]) == [(D(3), D("0.4")), (D(10), D("0.35")), (D(25), D("0.25"))]
    assert legs_of(PRESETS["moon"]) == [(D(5), D("0.25")), (D(20), D("0.35")), (D(50), D("0.4"))]
    assert legs_of(PRESETS["single"]) == [(D("1.5"), D(1))]
    assert PRESETS["single"].stop_loss_pct == D(20)


def test_default_preset_is_balanced_and_every_preset_is_valid():
    assert preset() is PRESETS["balanced"]
    assert preset(" Moon ") is PRESETS["moon"]
    for spec in PRESETS.values():
        assert spec_validate(spec) is spec
        assert sum(leg.fraction for leg in spec.take_profits) == 1


def test_plan_errors_are_trading_input_errors():
    from trading.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        spec_single(stop_loss="100%")
    assert isinstance(err.value, ValueError) and err.value.as_dict()["code"] == "stop_loss_out_of_range"


def test_unknown_preset_names_the_choices():
    with pytest.raises(PlanError) as err:
        preset("yolo")
    assert "balanced" in err.value.message and err.value.code == "unknown_preset"


@pytest.mark.parametrize("text,expected", [("2x", D(2)), ("1.5X", D("1.5")), ("+50%", D("1.5")), ("500%", D(6))])
def test_trigger_as_multiple_or_gain_percent(text, expected):
    assert trigger_parse(text) == expected


@pytest.mark.parametrize("text", ["-50%", "abc", "2", "x2", ""])
def test_bad_triggers_are_refused_with_a_sentence(text):
    with pytest.raises(PlanError) as err:
        trigger_parse(text)
    assert "multiple like 2x" in err.value.message


def test_single_pair_default_and_limits():
    spec = spec_single()
    assert legs_of(spec) == [(D("1.5"), D(1))] and spec.stop_loss_pct == D(20)
    assert spec_single(take_profit="+5%", stop_loss="5%").take_profits[0].trigger_multiple == D("1.05")
    assert spec_single(take_profit="+500%", stop_loss="99%").stop_loss_pct == D(99)
    with pytest.raises(PlanError, match=r"between \+5% and \+500%"):
        spec_single(take_profit="+501%")
    with pytest.raises(PlanError, match=r"between \+5% and \+500%"):
        spec_single(take_profit="+4%")
    with pytest.raises(PlanError, match="between 5% and 99%"):
        spec_single(stop_loss="4%")
    with pytest.raises(PlanError, match="between 5% and 99%"):
        spec_single(stop_loss="100%")


def test_ladder_may_go_above_the_single_pair_limit():
    spec = spec_custom(stop_loss="30%", take_profits=[("2x", "50%"), ("20x", "50%")])
    assert spec.take_profits[1].trigger_multiple == D(20)


def test_fractions_over_100_percent_are_refused_and_nothing_is_built():
    with pytest.raises(PlanError) as err:
        spec_custom(stop_loss="20%", take_profits=[("2x", "60%"), ("3x", "50%")])
    assert err.value.message == (
        "The take-profit legs sell 110% of the position; together they can sell at most 100%."
    )


def test_legs_must_rise():
    with pytest.raises(PlanError, match="must go up"):
        spec_custom(stop_loss="20%", take_profits=[("3x", "50%"), ("2x", "50%")])


def test_trailing_needs_both_values_and_time_stop_limits():
    with pytest.raises(PlanError, match="both"):
        spec_custom(stop_loss="20%", take_profits=[("2x", "50%")], trailing_distance="10%")
    with pytest.raises(PlanError, match="one minute"):
        spec_custom(stop_loss="20%", take_profits=[("2x", "50%")], max_hold_seconds=5)
    spec = spec_custom(
        stop_loss="20%", take_profits=[("2x", "50%")], trailing_activation="30%", trailing_distance="10%",
        breakeven_after_first_tp=True, max_hold_seconds=3600,
    )
    assert spec.has_trailing and spec.trailing_activation_pct == D(30) and spec.max_hold_seconds == 3600


def test_summary_marks_done_legs():
    text = spec_summary(PRESETS["balanced"], legs_done=1)
    assert text.startswith("TP 2x 50% done, 5x 30%, 10x 20%") and "SL -20%" in text


def test_bad_stored_json_is_an_error_not_a_default():
    with pytest.raises(PlanError):
        spec_from_json({"version": 99})
    broken = spec_to_json(PRESETS["balanced"])
    del broken["stop_loss_pct"]
    with pytest.raises(PlanError, match="missing"):
        spec_from_json(broken)
    with pytest.raises(PlanError):
        spec_from_json({**spec_to_json(PRESETS["balanced"]), "stop_loss_pct": 0.2})


# --- properties ---------------------------------------------------------------------------------

@given(exit_plans())
def test_json_round_trip_is_exact(spec):
    assert spec_validate(spec) is spec
    data = json.loads(json.dumps(spec_to_json(spec)))
    assert spec_from_json(data) == spec


@given(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.lists(st.tuples(st.decimals(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=True, allow_infinity=True)), max_size=12),
)
def test_validation_either_accepts_a_sane_plan_or_explains(stop, raw_legs):
    spec = ExitPlanSpec(stop, tuple(TakeProfitLeg(m, f) for m, f in raw_legs))
    try:
        spec_validate(spec)
    except PlanError as err:
        assert err.message.endswith(".") and err.code
        return
    assert 5 <= stop <= 99
    assert 0 < sum(leg.fraction for leg in spec.take_profits) <= 1
    assert all(leg.trigger_multiple > 1 for leg in spec.take_profits)
