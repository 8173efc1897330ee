"""Every parser of a number a trader or API client types reads one form: ASCII digits and at most one dot
(trading.numbers.plain_decimal). What a reader could take two ways is refused with a sentence showing that form."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telegram_app.parsers import ParseError, parse_percent, parse_sol_amount
from tests.fuzz.sentences import assert_sentence
from trading.errors import InvalidInput
from trading.numbers import plain_decimal
from trading.services.amounts import percent_validate, sol_to_lamports
from trading.tpsl.plans import PlanError, percent_parse, spec_custom, trigger_parse

ACCEPTED_FORM = "with the digits 0-9 and at most one dot, like"
# Each parser with what it is given in front of and behind the number a trader types.
PARSERS = {
    "bot amount": (parse_sol_amount, "", " SOL"),
    "trading amount": (sol_to_lamports, "", ""),
    "bot percent": (parse_percent, "", "%"),
    "trading percent": (percent_validate, "", "%"),
    "stop-loss percent": (lambda t: percent_parse(t, what="stop-loss"), "", "%"),
    "take-profit multiple": (trigger_parse, "", "x"),
    "take-profit gain": (trigger_parse, "+", "%"),
}
REFUSALS = (ParseError, InvalidInput, PlanError)
TWO_WAYS = {
    "١٢": "not_ascii", "۱۲": "not_ascii", "१२": "not_ascii", "𝟏": "not_ascii", "𝟏𝟐": "not_ascii", "１２": "not_ascii",
    "1 000": "separator", "1,000": "separator", "1,5": "separator", "1_000": "separator", "1'000": "separator",
    "nan": "not_a_number", "NaN": "not_a_number", "inf": "not_a_number", "Infinity": "not_a_number",
    "1e400": "exponent", "1E3": "exponent", "-0": "sign", "+1": "sign", "1.2.3": "not_a_number", "0x10": "not_a_number",
}


def _refusal(parser, text):
    with pytest.raises(REFUSALS) as err:
        parser(text)
    assert_sentence(err.value.message)
    return err.value


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("number", sorted(TWO_WAYS))
def test_numbers_a_reader_could_take_two_ways_are_refused_by_every_parser_showing_the_accepted_form(name, number):
    parser, before, after = PARSERS[name]
    if name == "stop-loss percent" and number in ("-0", "+1"):
        return  # a stop-loss's sign is documented as ignored ("-20%" is a 20% stop); -0 is then refused as zero
    refusal = _refusal(parser, f"{before}{number}{after}")
    assert ACCEPTED_FORM in refusal.message, refusal.message
    assert plain_decimal_code(number) == TWO_WAYS[number]


def plain_decimal_code(text: str) -> str:
    with pytest.raises(InvalidInput) as err:
        plain_decimal(text, what="an amount", example="0.5")
    return err.value.code


def test_a_negative_zero_stop_loss_is_still_refused():
    with pytest.raises(PlanError) as err:
        spec_custom(stop_loss="-0%", take_profits=[("2x", "100%")])
    assert_sentence(err.value.message)


@pytest.mark.parametrize("text,value", [("0.5", "0.5"), (".5", "0.5"), ("5.", "5"), ("  12  ", "12"), ("007", "7")])
def test_the_accepted_form(text, value):
    assert plain_decimal(text, what="an amount", example="0.5") == Decimal(value)


# Digits of every script but ASCII (category Nd), and the other characters that make a number ambiguous.
foreign_digit = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
ambiguous = foreign_digit | st.sampled_from([" ", ",", "_", "'", "e", "E", "-", "+", "\u00a0", "\u2009", "٫", "·"])
ascii_number = st.from_regex(r"\A(?:[0-9]{1,8}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})\Z")


@settings(max_examples=300, deadline=None)
@given(ascii_number, st.integers(min_value=0, max_value=20), ambiguous)
def test_any_number_with_one_ambiguous_character_inside_is_refused_by_every_parser(number, position, char):
    index = 1 + position % max(len(number) - 1, 1) if len(number) > 1 else 0
    text = number[:index] + char + number[index:]
    if not text.strip() or text.strip() == number.strip():  # a space at an end is only surrounding space
        return
    for name, (parser, before, after) in PARSERS.items():
        if name == "stop-loss percent" and text.lstrip()[:1] in "+-":
            continue  # a leading sign is the stop-loss's documented, ignored sign
        with pytest.raises(REFUSALS) as err:
            parser(f"{before}{text}{after}")
        assert_sentence(err.value.message)


@settings(max_examples=300, deadline=None)
@given(ascii_number)
def test_every_ascii_number_is_read_as_itself(number):
    assert plain_decimal(number, what="an amount", example="0.5") == Decimal(number)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_whatever_is_read_is_ascii_digits_and_at_most_one_dot(text):
    try:
        value = plain_decimal(text, what="an amount", example="0.5")
    except InvalidInput as exc:
        assert_sentence(exc.message)
        assert exc.code in {"empty", "not_ascii", "separator", "exponent", "sign", "not_a_number"}
        return
    raw = text.strip()
    assert set(raw) <= set("0123456789.") and raw.count(".") <= 1 and value == Decimal(raw) and value.is_finite()
