"""The fast base58 decoder gives what the base58 package gives, byte for byte."""

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.chain.b58 import b58decode


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=4), st.binary(max_size=1300))
def test_decoding_matches_the_base58_package(leading_zeros, payload):
    data = b"\0" * leading_zeros + payload
    text = base58.b58encode(data).decode()
    assert b58decode(text) == base58.b58decode(text) == data
    assert b58decode(text.encode()) == data


@pytest.mark.parametrize("text", ["0", "O", "I", "l", "abc+", "11Ç"])
def test_a_character_outside_the_alphabet_is_a_value_error(text):
    with pytest.raises(ValueError):
        b58decode(text)
