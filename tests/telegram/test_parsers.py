from decimal import Decimal

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jarvis.redact import contains_secret
from telegram_app.parsers import (
    ParseError,
    format_sol,
    parse_mint,
    parse_percent,
    parse_sol_amount,
)


@pytest.mark.parametrize(
    "text,lamports",
    [("0.5", 500_000_000), (".5", 500_000_000), ("5.", 5_000_000_000), ("2 SOL", 2_000_000_000), (" 2sol ", 2_000_000_000),
     ("0.000000001", 1)],
)
def test_amounts_traders_type_are_read_exactly(text, lamports):
    assert parse_sol_amount(text) == lamports


@pytest.mark.parametrize(
    "text,code",
    [("1e3", "exponent"), ("-1", "sign"), ("0", "not_positive"), ("abc", "not_a_number"),
     ("999999999", "too_large"), ("", "empty"), ("0.0000000001", "too_precise"), ("1.2.3", "not_a_number"),
     ("1,000.5", "separator"), ("1,5", "separator")],
)
def test_bad_amounts_get_a_sentence_and_a_code(text, code):
    with pytest.raises(ParseError) as err:
        parse_sol_amount(text)
    assert err.value.code == code
    assert err.value.message.endswith(".") and "Traceback" not in err.value.message


@given(st.integers(min_value=1, max_value=100_000 * 10**9))
def test_any_lamport_amount_round_trips_through_its_text(lamports):
    assert parse_sol_amount(format_sol(lamports)) == lamports


@given(st.text(max_size=30))
def test_amount_parser_never_raises_anything_but_parse_error(text):
    try:
        value = parse_sol_amount(text)
    except ParseError:
        return
    assert isinstance(value, int) and 0 < value <= 100_000 * 10**9


@pytest.mark.parametrize("text,value", [("25", Decimal(25)), ("25%", Decimal(25)), ("12.5", Decimal("12.5")), ("100", Decimal(100))])
def test_percents(text, value):
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["0", "101", "-5", "abc", "1e2", "12.345", "12,5", "٢٥", "𝟐𝟓", "2 5", "nan", "inf"])
def test_bad_percents(text):
    with pytest.raises(ParseError):
        parse_percent(text)


@given(st.binary(min_size=32, max_size=32))
def test_every_32_byte_key_is_a_mint_and_nothing_shorter_or_longer_is(raw):
    text = base58.b58encode(raw).decode()
    assert parse_mint(f"  {text} ") == text
    with pytest.raises(ParseError) as err:
        parse_mint(text[:-4])
    assert err.value.code == "truncated"


def test_mint_errors_say_what_is_wrong():
    with pytest.raises(ParseError) as err:
        parse_mint("So1111111111111111111111111111111111111111O")  # 'O' is not base58
    assert err.value.code == "bad_chars"
    key = base58.b58encode(bytes(range(64))).decode()
    with pytest.raises(ParseError) as err:
        parse_mint(key)
    assert err.value.code == "secret_key"
    with pytest.raises(ParseError) as err:
        parse_mint("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v" + "z" * 3)
    assert err.value.code == "too_long"


def test_pasted_private_keys_are_recognised():
    assert contains_secret(base58.b58encode(bytes(range(64))).decode())
    assert contains_secret(str(list(range(64))))
    assert not contains_secret("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
    assert not contains_secret("/buy 0.5")
