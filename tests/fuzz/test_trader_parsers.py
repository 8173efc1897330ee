"""Hypothesis on every pure parser a trader's text reaches: amounts, percents, mints, pasted keys, exit-plan
inputs, settings values and button data. The property is the same everywhere: the answer is a value or the
documented refusal (ParseError / InvalidInput / PlanError / CallbackError) whose message is a sentence; valid
input round-trips."""

from __future__ import annotations

import json
from decimal import Decimal

import base58
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from telegram_app.callbacks import CallbackError, cb_sign, cb_verify
from jarvis.redact import contains_secret
from telegram_app.parsers import (
    ParseError,
    format_sol,
    looks_like_mint,
    parse_mint,
    parse_percent,
    parse_sol_amount,
)
from tests.fuzz.sentences import assert_sentence, tricky_text
from trading.errors import InvalidInput
from trading.services.amounts import mint_validate, percent_validate, sol_to_lamports
from trading.tpsl.plans import PlanError, percent_parse, spec_custom, spec_from_json, spec_to_json, trigger_parse
from trading.wallets import secret_parse

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
base58_text = st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", min_size=0, max_size=100)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.decimals(allow_nan=True, allow_infinity=True),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _refused(exc: Exception) -> None:
    assert_sentence(getattr(exc, "message", str(exc)))


# --- amounts -------------------------------------------------------------------------------------------
@FAST
@given(tricky_text)
def test_sol_amount_text_is_lamports_or_a_sentence(text):
    try:
        lamports = parse_sol_amount(text)
    except ParseError as exc:
        return _refused(exc)
    assert isinstance(lamports, int) and 0 < lamports <= 100_000 * 10**9
    assert parse_sol_amount(format_sol(lamports)) == lamports  # what we show is what we read back


@FAST
@given(tricky_text | st.integers() | st.decimals() | st.floats() | st.booleans())
def test_trading_amount_parser_refuses_with_a_sentence(value):
    try:
        lamports = sol_to_lamports(value)
    except InvalidInput as exc:
        return _refused(exc)
    assert isinstance(lamports, int) and not isinstance(lamports, bool) and lamports >= 1_000_000
    assert sol_to_lamports(format_sol(lamports)) == lamports


@FAST
@given(st.integers(min_value=1, max_value=100_000 * 10**9))
def test_both_amount_parsers_agree_on_what_the_bot_shows(lamports):
    shown = format_sol(lamports)
    assert parse_sol_amount(shown) == lamports
    if lamports >= 1_000_000:
        assert sol_to_lamports(shown) == lamports


# --- percents --------------------------------------------------------------------------------------------
@FAST
@given(tricky_text)
def test_percent_text_is_a_plain_decimal_or_a_sentence(text):
    try:
        value = parse_percent(text)
    except ParseError as exc:
        return _refused(exc)
    assert 0 < value <= 100
    # It is shown to the trader (sell previews, confirmations) and signed into buttons: plain digits, no '1E+2'.
    assert "E" not in str(value) and parse_percent(str(value)) == value
    assert percent_validate(str(value)) == value


@FAST
@given(st.decimals(min_value="0.01", max_value="100", places=2))
def test_every_two_place_percent_round_trips(value):
    for text in (str(value), f"{value}%", f" {value} % "):
        parsed = parse_percent(text)
        assert parsed == value and "E" not in str(parsed)


@FAST
@given(tricky_text | st.decimals() | st.integers() | st.floats() | st.booleans())
def test_sell_percent_validation_refuses_with_a_sentence(value):
    try:
        result = percent_validate(value)
    except InvalidInput as exc:
        return _refused(exc)
    assert 0 < result <= 100


# --- mints -------------------------------------------------------------------------------------------------
@FAST
@given(base58_text | tricky_text)
def test_mint_text_is_an_address_or_a_sentence(text):
    try:
        mint = parse_mint(text)
    except ParseError as exc:
        _refused(exc)
        with pytest.raises(InvalidInput):  # the trading core refuses what the bot refuses
            mint_validate(text)
        return
    assert len(base58.b58decode(mint)) == 32 and looks_like_mint(mint)
    try:
        assert mint_validate(mint) == mint
    except InvalidInput as exc:
        assert exc.code == "invalid_mint" and mint.startswith("So1111")  # only SOL itself


@FAST
@given(st.binary(min_size=0, max_size=70))
def test_any_bytes_as_base58_are_told_apart(raw):
    text = base58.b58encode(raw).decode()
    if len(raw) == 32 and text:
        assert parse_mint(text) == text
    else:
        with pytest.raises(ParseError) as err:
            parse_mint(text)
        _refused(err.value)
        assert err.value.code == ("secret_key" if len(raw) == 64 else "empty" if not text else
                                  "truncated" if len(raw) < 32 else "too_long")


# --- pasted private keys -------------------------------------------------------------------------------------
@FAST
@given(base58_text | tricky_text | st.lists(st.integers(min_value=-2, max_value=300), max_size=66).map(json.dumps))
def test_pasted_secret_is_a_keypair_or_a_sentence(text):
    try:
        keypair = secret_parse(text)
    except InvalidInput as exc:
        return _refused(exc)
    assert contains_secret(text)  # anything importable is also caught when pasted elsewhere


@FAST
@given(st.binary(min_size=32, max_size=32))
def test_every_real_keypair_is_recognised_and_imports_in_both_formats(seed):
    keypair = Keypair.from_seed(seed)
    as_b58 = base58.b58encode(bytes(keypair)).decode()
    as_json = json.dumps(list(bytes(keypair)))
    for text in (as_b58, as_json, f"  {as_b58}\n"):
        assert contains_secret(text)
        assert secret_parse(text).pubkey() == keypair.pubkey()
    assert not looks_like_mint(as_b58)


# --- exit-plan input --------------------------------------------------------------------------------------------
@FAST
@given(tricky_text, tricky_text, st.lists(st.tuples(tricky_text, tricky_text), max_size=4))
def test_custom_exit_plan_input_is_a_plan_or_a_sentence(stop, trigger, legs):
    for parser in (lambda: trigger_parse(trigger), lambda: percent_parse(stop, what="stop-loss")):
        try:
            assert isinstance(parser(), Decimal)
        except PlanError as exc:
            _refused(exc)
    try:
        spec = spec_custom(stop_loss=stop, take_profits=legs)
    except PlanError as exc:
        return _refused(exc)
    assert spec_from_json(spec_to_json(spec)) == spec


@FAST
@given(json_values)
def test_a_stored_or_submitted_plan_json_is_a_plan_or_a_sentence(data):
    if isinstance(data, dict):
        data = {"version": 1, **data}
    try:
        spec = spec_from_json(data)
    except PlanError as exc:
        return _refused(exc)
    assert spec_from_json(spec_to_json(spec)) == spec


# --- settings values -------------------------------------------------------------------------------------------
SETTINGS_FIELDS = ["mode", "buy_slippage_bps", "sell_slippage_bps", "priority_fee_policy", "priority_fee_max_lamports",
                   "default_exit_plan", "buy_presets_lamports", "notifications", "no_such_setting"]


@FAST
@given(st.sampled_from(SETTINGS_FIELDS), json_values | st.sampled_from(["auto", "paper", "live", "balanced", "moon"]))
def test_settings_values_are_cleaned_or_refused_with_a_sentence(field, value):
    from trading.services.accounts import settings_changes_validate

    try:
        cleaned = settings_changes_validate({field: value})
    except InvalidInput as exc:
        return _refused(exc)
    assert set(cleaned) == {field}
    assert settings_changes_validate(cleaned) == cleaned  # cleaning is idempotent: what is stored is valid


# --- button data -----------------------------------------------------------------------------------------------
KEY = b"f" * 32
NOW = 1_900_000_000.0


@FAST
@given(st.text(max_size=64) | st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
def test_any_button_data_a_client_sends_is_refused_with_a_sentence(data):
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=42, data=data, now=NOW)
    _refused(err.value)


@FAST
@given(st.integers(min_value=1, max_value=2**53), st.sampled_from(["sp", "sc", "bc", "wx", "lp", "pv", "st"]),
       st.lists(st.integers(min_value=0, max_value=10**12).map(str), min_size=1, max_size=2),
       st.integers(min_value=0, max_value=40), st.characters(codec="ascii"))
def test_a_signed_button_with_any_one_character_changed_is_refused(user_id, action, args, position, char):
    data = cb_sign(key=KEY, user_id=user_id, action=action, args=tuple(args), now=NOW)
    assert cb_verify(key=KEY, user_id=user_id, data=data, now=NOW).args == tuple(args)
    index = position % len(data)
    forged = data[:index] + char + data[index + 1:]
    if forged == data:
        return
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=user_id, data=forged, now=NOW)
    _refused(err.value)
