"""The safety card's pure parts: Token-2022's TokenMetadata extension read for the name, the decision table of the
trader's setting, and the accept button's mask."""

from __future__ import annotations

import struct

import pytest
from solders.keypair import Keypair
from solders.token.state import Mint

from telegram_app.bot.safety_card import accepted_from_mask, accepted_mask
from telegram_app.parsers import ParseError
from trading.safety import CRITICAL, TOKEN_2022, Finding, TokenSafety, mint_parse, safety_decision


def _string(text: str) -> bytes:
    return struct.pack("<I", len(text.encode())) + text.encode()


def test_the_name_comes_from_token_2022s_metadata_extension():
    """spl-token-metadata-interface TokenMetadata: update authority, mint, name, symbol, uri, additional metadata."""
    authority, mint = Keypair().pubkey(), Keypair().pubkey()
    base = bytes(Mint(mint_authority=None, supply=10**9, decimals=6, is_initialized=True, freeze_authority=None))
    value = bytes(authority) + bytes(mint) + _string("Extension Coin") + _string("EXT") + _string("https://x") + bytes(4)
    data = base.ljust(165, b"\0") + b"\1" + struct.pack("<HH", 19, len(value)) + value
    facts = mint_parse(TOKEN_2022, data)
    assert (facts.name, facts.symbol, facts.decimals, facts.supply) == ("Extension Coin", "EXT", 6, 10**9)
    assert facts.freeze_authority is None and facts.permanent_delegate is None and not facts.non_transferable
    with pytest.raises(ValueError):
        mint_parse("11111111111111111111111111111111", data)  # not a token program's account


def _safety(*codes: str) -> TokenSafety:
    return TokenSafety(mint="m", facts=None, price=None, top10_pct=None, sellable=None, shield=None,
                       findings=tuple(Finding(c, c, c in CRITICAL) for c in codes))


@pytest.mark.parametrize("policy, accepted, refused, to_accept", [
    ("freeze", (), ("freeze_authority",), ("permanent_delegate",)),
    ("freeze", ("permanent_delegate",), ("freeze_authority",), ()),
    ("confirm", (), (), ("freeze_authority", "permanent_delegate")),
    ("confirm", ("freeze_authority", "permanent_delegate"), (), ()),
    ("refuse", ("freeze_authority", "permanent_delegate"), ("freeze_authority", "permanent_delegate"), ()),
])
def test_the_setting_decides_what_is_refused_and_what_waits_for_acceptance(policy, accepted, refused, to_accept):
    safety = _safety("freeze_authority", "permanent_delegate", "transfer_fee")
    assert safety_decision(safety=safety, policy=policy, accepted=accepted) == (refused, to_accept)


def test_a_token_without_critical_findings_goes_ahead_under_every_setting():
    for policy in ("confirm", "freeze", "refuse"):
        assert safety_decision(safety=_safety("transfer_fee", "concentrated"), policy=policy) == ((), ())


def test_the_accept_mask_round_trips_and_refuses_anything_else():
    for codes in [(), ("freeze_authority",), CRITICAL, ("permanent_delegate", "not_sellable")]:
        assert accepted_from_mask(str(accepted_mask(codes))) == tuple(c for c in CRITICAL if c in codes)
    for junk in ("16", "-1", "1.0", "١", "", "x"):
        with pytest.raises(ParseError):
            accepted_from_mask(junk)
