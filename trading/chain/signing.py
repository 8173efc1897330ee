"""Signing swap transactions with solders: fill the trader's slot, keep any other signatures already present."""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction


class SigningError(Exception):
    """The transaction cannot be signed by this wallet (it is not among the required signers, or is malformed)."""


def transaction_sign(*, raw: bytes, keypair: Keypair) -> tuple[bytes, str]:
    """Sign a (possibly partially signed) VersionedTransaction as ``keypair``; return (signed bytes, signature).

    The trader's pubkey must be one of the first ``num_required_signatures`` account keys; its signature goes in that
    slot and every other slot is kept as the venue sent it (a pool authority may already have signed).
    """
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own error types for malformed bytes
        raise SigningError("the venue's transaction could not be decoded") from exc
    message = tx.message
    required = message.header.num_required_signatures
    signers = list(message.account_keys[:required])
    if keypair.pubkey() not in signers:
        raise SigningError("the venue's transaction does not name this wallet as a signer")
    slot = signers.index(keypair.pubkey())
    signature = keypair.sign_message(to_bytes_versioned(message))
    signatures = list(tx.signatures) + [Signature.default()] * max(0, required - len(tx.signatures))
    signatures[slot] = signature
    signed = VersionedTransaction.populate(message, signatures)
    return bytes(signed), str(signature)


def transaction_fee_payer(raw: bytes) -> str:
    return str(VersionedTransaction.from_bytes(raw).message.account_keys[0])


def transaction_signature(raw: bytes) -> str:
    """The first signature of a signed transaction: its id on chain."""
    return str(VersionedTransaction.from_bytes(raw).signatures[0])
