"""What a client of the sandbox does with a venue's swap transaction, written with solders only."""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

SOL = "So11111111111111111111111111111111111111112"


def sign_as(trader: Keypair, raw: bytes) -> VersionedTransaction:
    """Fill the trader's slot of a possibly partially signed transaction and keep the other signatures."""
    tx = VersionedTransaction.from_bytes(raw)
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    signatures = list(tx.signatures)
    signatures[signers.index(trader.pubkey())] = trader.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)
