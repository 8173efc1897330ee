"""The partial-signature rule: the trader's slot is filled, other signers' signatures are kept."""

from __future__ import annotations

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from trading.chain.signing import SigningError, transaction_sign

MEMO = Pubkey.from_string("MemoSq4gqABAXKKTiPgxNUFg9m2GaT9KcuLtqMdg5yB")


def _two_signer_tx(trader: Keypair, authority: Keypair, *, authority_signs: bool) -> bytes:
    ix = Instruction(MEMO, b"swap", [AccountMeta(authority.pubkey(), is_signer=True, is_writable=False)])
    message = MessageV0.try_compile(trader.pubkey(), [ix], [], Hash.new_unique())
    signatures = [Signature.default(), Signature.default()]
    if authority_signs:
        signatures[1] = authority.sign_message(to_bytes_versioned(message))
    return bytes(VersionedTransaction.populate(message, signatures))


def test_trader_fills_its_slot_and_keeps_the_authority_signature():
    trader, authority = Keypair(), Keypair()
    raw = _two_signer_tx(trader, authority, authority_signs=True)
    signed, signature = transaction_sign(raw=raw, keypair=trader)
    tx = VersionedTransaction.from_bytes(signed)
    assert str(tx.signatures[0]) == signature
    assert tx.signatures[1] == VersionedTransaction.from_bytes(raw).signatures[1]
    assert tx.verify_with_results() == [True, True]


def test_signing_is_deterministic_for_the_same_bytes():
    trader, authority = Keypair(), Keypair()
    raw = _two_signer_tx(trader, authority, authority_signs=True)
    assert transaction_sign(raw=raw, keypair=trader) == transaction_sign(raw=raw, keypair=trader)


def test_a_wallet_that_is_not_a_signer_is_refused():
    raw = _two_signer_tx(Keypair(), Keypair(), authority_signs=False)
    with pytest.raises(SigningError):
        transaction_sign(raw=raw, keypair=Keypair())


def test_garbage_bytes_are_refused():
    with pytest.raises(SigningError):
        transaction_sign(raw=b"\x01\x02not a transaction", keypair=Keypair())
