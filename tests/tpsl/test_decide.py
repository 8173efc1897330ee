"""The pure exit decision: properties over thousands of random plans and price paths, plus named cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tpsl.strategies import exit_plans
from trading.prices import PRICE_MISSING, PRICE_OK, PRICE_STALE
from trading.tpsl.decide import PositionState, decide, leg_price
from trading.tpsl.plans import PRESETS, spec_custom

D = Decimal
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STALE = timedelta(seconds=10)
ENTRY = D("0.000123")


def state(**kw):
    base = dict(entry_price=ENTRY, size=1_000_000, original_size=1_000_000, opened_at=T0)
    base.update(kw)
    return PositionState(**base)


def at(multiple, **kw):
    s = kw.pop("state", None) or state()
    return decide(s, kw.pop("plan", PRESETS["balanced"]), ENTRY * D(multiple), T0, kw.pop("now", T0), STALE)


def test_nothing_happens_between_stop_and_first_leg():
    d = at("1.3")
    assert d.exits == () and d.price_status == PRICE_OK


def test_first_leg_sells_half_of_original():
    (exit_,) = at("2").exits
    assert (exit_.reason, exit_.amount, exit_.legs) == ("tp", 500_000, (0,))


def test_leg_fraction_is_of_original_size_capped_at_what_is_left():
    s = state(size=100_000, legs_done=frozenset({0}))
    (exit_,) = at("5", state=s).exits
    assert exit_.amount == 100_000 and exit_.legs == (1,)


def test_gap_through_two_legs_sells_both_in_one_exit():
    (exit_,) = at("6").exits
    assert exit_.legs == (0, 1) and exit_.amount == 800_000


def test_last_leg_of_full_ladder_sells_the_rest_without_dust():
    s = state(size=200_001, original_size=1_000_003, legs_done=frozenset({0, 1}))
    (exit_,) = at("10", state=s).exits
    assert exit_.amount == 200_001


def test_ladder_above_single_tp_still_fires():
    plan = spec_custom(stop_loss="20%", take_profits=[("+50%", "30%"), ("3x", "70%")])
    s = state(legs_done=frozenset({0}), size=700_000)
    (exit_,) = at("3.1", state=s, plan=plan).exits
    assert exit_.legs == (1,) and exit_.amount == 700_000


def test_stop_loss_sells_everything():
    (exit_,) = at("0.8").exits
    assert (exit_.reason, exit_.amount) == ("sl", 1_000_000)
    assert at("0.8000001").exits == ()


def test_stop_wins_when_one_tick_crosses_stop_and_take_profit():
    # a trailing stop far above a leg the trader just added: price 7x is under the trail (9x) and over the 5x leg
    plan = spec_custom(stop_loss="20%", take_profits=[("5x", "50%")], trailing_activation="0%", trailing_distance="10%")
    s = state(peak_price=ENTRY * 10)
    (exit_,) = at("7", state=s, plan=plan).exits
    assert (exit_.reason, exit_.amount) == ("trailing", 1_000_000)


def test_break_even_after_first_take_profit():
    plan = replace(PRESETS["balanced"], breakeven_after_first_tp=True)
    s = state(legs_done=frozenset({0}), size=500_000)
    (exit_,) = at("0.99", state=s, plan=plan).exits
    assert (exit_.reason, exit_.amount) == ("sl", 500_000)
    assert at("0.99", state=state(), plan=plan).exits == ()


def test_trailing_waits_for_activation_then_follows_peak():
    plan = spec_custom(stop_loss="50%", take_profits=[("20x", "50%")], trailing_activation="50%", trailing_distance="20%")
    assert at("1.2", state=state(peak_price=ENTRY * D("1.4")), plan=plan).exits == ()
    d = at("2", state=state(peak_price=ENTRY * D("2.5")), plan=plan)
    assert d.exits[0].reason == "trailing" and d.triggers.trailing_stop_price == ENTRY * 2
    assert at("2.01", state=state(peak_price=ENTRY * D("2.5")), plan=plan).exits == ()


def test_time_stop_fires_with_no_price():
    plan = replace(PRESETS["balanced"], max_hold_seconds=3600)
    d = decide(state(), plan, None, None, T0 + timedelta(hours=1), STALE)
    assert d.price_status == PRICE_MISSING and d.exits[0].reason == "time" and d.exits[0].amount == 1_000_000
    assert decide(state(), plan, None, None, T0 + timedelta(minutes=59), STALE).exits == ()


def test_stale_or_missing_or_zero_price_triggers_nothing():
    crash = ENTRY / 10
    assert decide(state(), PRESETS["balanced"], crash, T0, T0 + timedelta(seconds=11), STALE).price_status == PRICE_STALE
    assert decide(state(), PRESETS["balanced"], crash, T0, T0 + timedelta(seconds=11), STALE).exits == ()
    for price in (None, D(0), D(-1), D("NaN")):
        d = decide(state(), PRESETS["balanced"], price, T0, T0, STALE)
        assert d.exits == () and d.price_status == PRICE_MISSING


def test_in_flight_exit_or_empty_position_gets_nothing():
    assert at("0.1", state=state(exit_in_flight=True)).exits == ()
    assert at("0.1", state=state(size=0)).exits == ()
    assert at("0.1", state=state(entry_price=None)).exits == ()


# --- properties over random plans and price paths ------------------------------------------------


def plans():
    return exit_plans(max_trigger="30", max_legs=4, max_activation=300, max_hold=600)


multiples = st.decimals(min_value="0.01", max_value="40", places=3)
ticks = st.lists(st.tuples(st.none() | multiples, st.integers(min_value=0, max_value=120)), min_size=1, max_size=40)


def simulate(plan, original, path):
    """Run a price path; every exit fills at once. Returns the exits and the trailing stops seen."""
    s = state(size=original, original_size=original)
    now, sold, exits, trails = T0, 0, [], []
    for multiple, step in path:
        now += timedelta(seconds=step)
        price = None if multiple is None else ENTRY * multiple
        d = decide(s, plan, price, now, now, STALE)
        trails.append(d.triggers.trailing_stop_price)
        s = replace(s, peak_price=d.peak_price)
        for exit_ in d.exits:
            assert 0 < exit_.amount <= s.size, "never sells more than held"
            assert not set(exit_.legs) & s.legs_done, "each leg at most once"
            sold += exit_.amount
            exits.append(exit_)
            s = replace(s, size=s.size - exit_.amount, legs_done=s.legs_done | set(exit_.legs))
    return s, sold, exits, trails


@settings(max_examples=150, deadline=None)
@given(plans(), st.integers(min_value=1, max_value=10**12), ticks)
def test_price_paths_never_oversell_and_legs_fire_once(plan, original, path):
    s, sold, exits, _ = simulate(plan, original, path)
    assert sold <= original and s.size == original - sold
    fired = [i for e in exits for i in e.legs]
    assert len(fired) == len(set(fired))
    tp_sold = sum(e.amount for e in exits if e.reason == "tp")
    fractions = sum((leg.fraction for leg in plan.take_profits), D(0))
    assert tp_sold <= max(int(fractions * original), len(fired)) or fractions == 1
    assert all(e.amount == e.amount // 1 for e in exits)
    if any(e.reason != "tp" for e in exits):
        assert exits[-1].reason != "tp" and s.size == 0


@settings(max_examples=120, deadline=None)
@given(plans(), ticks)
def test_trailing_stop_never_moves_down(plan, path):
    _, _, exits, trails = simulate(plan, 10**9, [(m, s) for m, s in path])
    seen = None
    for trail in trails:
        if seen is not None:
            assert trail is not None and trail >= seen
        seen = trail if trail is not None else seen


@settings(max_examples=120, deadline=None)
@given(plans(), multiples, st.integers(min_value=0, max_value=3), st.none() | multiples)
def test_stop_wins_a_tie_and_sells_everything(plan, multiple, done, peak):
    s = state(legs_done=frozenset(range(min(done, len(plan.take_profits) - 1))), peak_price=None if peak is None else ENTRY * peak)
    d = decide(s, plan, ENTRY * multiple, T0, T0, STALE)
    stops = [p for p in (d.triggers.stop_price, d.triggers.trailing_stop_price) if p is not None]
    if ENTRY * multiple <= max(stops):
        assert d.exits and d.exits[0].reason in ("sl", "trailing") and d.exits[0].amount == s.size
    else:
        assert all(e.reason == "tp" for e in d.exits)
        for e in d.exits:
            assert all(leg_price(ENTRY, plan.take_profits[i].trigger_multiple) <= ENTRY * multiple for i in e.legs)


@settings(max_examples=100, deadline=None)
@given(plans(), st.none() | multiples, st.integers(min_value=11, max_value=10**6))
def test_no_fresh_price_means_only_the_time_stop(plan, multiple, age):
    now = T0 + timedelta(seconds=age)
    price_time = None if multiple is None else T0
    d = decide(state(), plan, None if multiple is None else ENTRY * multiple, price_time, now, STALE)
    assert d.price_status in (PRICE_STALE, PRICE_MISSING)
    expired = plan.max_hold_seconds is not None and age >= plan.max_hold_seconds
    assert [e.reason for e in d.exits] == (["time"] if expired else [])
