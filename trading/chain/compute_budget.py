"""The ComputeBudget instructions of a serialized VersionedTransaction: read its compute-unit price, or set it.

SetComputeUnitPrice is tag 3 followed by a u64 (little-endian micro-lamports per compute unit); SetComputeUnitLimit is
tag 2 followed by a u32. A venue that takes no fee in its request (bags.fm's `POST /trade/swap` documents only
``quoteResponse`` and ``userPublicKey``) builds the instruction with its own price; the desk then sets its own in the
transaction it signs, as long as no other signer has signed the message yet (a changed message would void them).
"""

from __future__ import annotations

from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM
from solders.instruction import CompiledInstruction
from solders.message import MessageV0
from solders.signature import Signature
from solders.transaction import VersionedTransaction

SET_COMPUTE_UNIT_LIMIT = 2
SET_COMPUTE_UNIT_PRICE = 3


def _price_index(message) -> int | None:
    keys = list(message.account_keys)
    for index, ix in enumerate(message.instructions):
        data = bytes(ix.data)
        if keys[ix.program_id_index] == COMPUTE_BUDGET_PROGRAM and len(data) == 9 and data[0] == SET_COMPUTE_UNIT_PRICE:
            return index
    return None


def compute_unit_price_of(raw: bytes) -> int | None:
    """The micro-lamports per compute unit a transaction bids (None: it sets no price, or cannot be read)."""
    try:
        message = VersionedTransaction.from_bytes(raw).message
    except Exception:  # not a Solana transaction (the paper chain's sealed JSON)
        return None
    index = _price_index(message)
    return None if index is None else int.from_bytes(bytes(message.instructions[index].data)[1:], "little")


def compute_unit_limit_of(raw: bytes) -> int | None:
    try:
        message = VersionedTransaction.from_bytes(raw).message
    except Exception:
        return None
    keys = list(message.account_keys)
    for ix in message.instructions:
        data = bytes(ix.data)
        if keys[ix.program_id_index] == COMPUTE_BUDGET_PROGRAM and len(data) == 5 and data[0] == SET_COMPUTE_UNIT_LIMIT:
            return int.from_bytes(data[1:], "little")
    return None


def with_compute_unit_price(raw: bytes, price: int) -> bytes | None:
    """The unsigned transaction with its SetComputeUnitPrice set to ``price``; None when that cannot be done without
    voiding a signature (another signer already signed) or the transaction sets no price to change."""
    if not 0 <= price < 2**64:
        raise ValueError("price must fit a u64")
    tx = VersionedTransaction.from_bytes(raw)
    message = tx.message
    if not isinstance(message, MessageV0) or any(sig != Signature.default() for sig in tx.signatures):
        return None
    index = _price_index(message)
    if index is None:
        return None
    instructions = list(message.instructions)
    old = instructions[index]
    instructions[index] = CompiledInstruction(
        old.program_id_index, bytes([SET_COMPUTE_UNIT_PRICE]) + price.to_bytes(8, "little"), bytes(old.accounts)
    )
    changed = MessageV0(message.header, list(message.account_keys), message.recent_blockhash, instructions,
                        list(message.address_table_lookups))
    return bytes(VersionedTransaction.populate(changed, list(tx.signatures)))
