"""MEV protection: a swap sent as a bundle with a tip (Jito's rules, through bags.fm's /solana/send-bundle).

A bundle lands whole, in order, in one slot, or not at all, and only with a tip: a SystemProgram transfer to one of
Jito's tip accounts. The tip goes in its own transaction after the swap (bags-sdk src/utils/helpers/transaction.ts
``createTipTransaction``), on the swap's blockhash so that both expire together. A bundle's id is the SHA-256 of its
transactions' signatures, so the desk knows it, and persists it, before sending.
"""

from __future__ import annotations

import hashlib

from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

# Jito's tip accounts (public addresses, as Jito documents them and bags.fm's SDK picks from them).
JITO_TIP_ACCOUNTS = (
    "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5", "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
    "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY", "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
    "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh", "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
    "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL", "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
)


def tip_account_for(key: str) -> str:
    """One tip account per order (spread over all of them, the same on every attempt)."""
    return JITO_TIP_ACCOUNTS[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(JITO_TIP_ACCOUNTS)]


def tip_transaction(*, swap: bytes, payer: str, tip_account: str, lamports: int) -> bytes:
    """The unsigned tip transaction of a bundle: ``payer`` sends ``lamports`` to ``tip_account``, on the blockhash of
    the (signed) ``swap`` it travels with."""
    if lamports <= 0:
        raise ValueError("a tip is a positive number of lamports")
    blockhash = VersionedTransaction.from_bytes(swap).message.recent_blockhash
    owner = Pubkey.from_string(payer)
    ix = transfer(TransferParams(from_pubkey=owner, to_pubkey=Pubkey.from_string(tip_account), lamports=lamports))
    message = MessageV0.try_compile(owner, [ix], [], blockhash)
    return bytes(VersionedTransaction.populate(message, [Signature.default()] * message.header.num_required_signatures))


def bundle_id_of(signatures: list[str]) -> str:
    """The bundle's id: the SHA-256 (hex) of its transactions' first signatures, in order."""
    return hashlib.sha256(b"".join(bytes(Signature.from_string(s)) for s in signatures)).hexdigest()
