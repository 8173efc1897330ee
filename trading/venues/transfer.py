"""The "venue" of a withdrawal: the desk builds the transfer itself, no swap venue is asked.

SOL: a System Program transfer. A token: the recipient's associated token account is created if it has none (the
Associated Token Account program's CreateIdempotent, a no-op when the account exists; its rent is paid by the wallet)
and a TransferChecked of the token's own program (SPL Token or Token-2022). Each transaction sets a compute-unit limit
and the price of the trader's priority-fee policy (as every order) within the cap, and is handed back unsigned, with the blockhash's last valid block
height, in the shape every other venue answers (a quote and a transaction), so the landing loop signs, persists, sends,
re-sends and reconciles it like any swap.

On paper, `PaperTransferVenue` writes a paper transaction stating what the transfer moves; the paper chain lands it.
"""

from __future__ import annotations

import json
import struct
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from trading.chain.rpc import SOL_MINT, RpcError
from trading.venues.base import FeePolicy, Quote, SwapTransaction, VenueTransientError
from trading.venues.paper import PAPER_LAST_VALID_HEIGHT
from trading.venues.router import RoutedSwap

ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
SOL_UNITS, TOKEN_UNITS = 1_000, 60_000  # compute-unit limits: a transfer; an account creation and a TransferChecked
NETWORK_FEE_LAMPORTS = 5_000  # one signature
PAPER_TRANSFER_FEE_LAMPORTS = NETWORK_FEE_LAMPORTS
TRANSFER_CHECKED = 12  # the index of TransferChecked in both token programs' instruction sets
CREATE_IDEMPOTENT = 1  # the Associated Token Account program's CreateIdempotent


def associated_token_address(*, owner: str, mint: str, program: str) -> str:
    """The associated token account of `owner` for `mint` under the token `program`."""
    found, _ = Pubkey.find_program_address(
        [bytes(Pubkey.from_string(owner)), bytes(Pubkey.from_string(program)), bytes(Pubkey.from_string(mint))],
        ATA_PROGRAM,
    )
    return str(found)


def transfer_instructions(
    *, owner: str, destination: str, mint: str, decimals: int, program: str, amount: int
) -> list[Instruction]:
    """The instructions that move `amount` (lamports, or base units of `mint`) from `owner` to `destination`."""
    sender, recipient = Pubkey.from_string(owner), Pubkey.from_string(destination)
    if mint == SOL_MINT:
        return [transfer(TransferParams(from_pubkey=sender, to_pubkey=recipient, lamports=amount))]
    token_program, mint_key = Pubkey.from_string(program), Pubkey.from_string(mint)
    source = Pubkey.from_string(associated_token_address(owner=owner, mint=mint, program=program))
    target = Pubkey.from_string(associated_token_address(owner=destination, mint=mint, program=program))
    create = Instruction(ATA_PROGRAM, bytes([CREATE_IDEMPOTENT]), [
        AccountMeta(sender, is_signer=True, is_writable=True),
        AccountMeta(target, is_signer=False, is_writable=True),
        AccountMeta(recipient, is_signer=False, is_writable=False),
        AccountMeta(mint_key, is_signer=False, is_writable=False),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False),
        AccountMeta(token_program, is_signer=False, is_writable=False),
    ])
    move = Instruction(token_program, bytes([TRANSFER_CHECKED]) + struct.pack("<QB", amount, decimals), [
        AccountMeta(source, is_signer=False, is_writable=True),
        AccountMeta(mint_key, is_signer=False, is_writable=False),
        AccountMeta(target, is_signer=False, is_writable=True),
        AccountMeta(sender, is_signer=True, is_writable=False),
    ])
    return [create, move]


def _quote(*, venue: str, mint: str, amount: int, raw: dict) -> Quote:
    return Quote(venue=venue, input_mint=mint, output_mint=mint, in_amount=amount, out_amount=amount,
                 min_out_amount=amount, slippage_bps=0, price_impact=Decimal(0), raw=raw)


class TransferVenue:
    """Builds a withdrawal's transaction on the order's cluster (blockhash and recent fees read from it)."""

    name = "transfer"

    def __init__(self, *, rpc):
        self.rpc = rpc

    def build(self, *, owner: str, destination: str, mint: str, decimals: int, program: str, amount: int,
              fee: FeePolicy) -> RoutedSwap:
        units = SOL_UNITS if mint == SOL_MINT else TOKEN_UNITS
        try:
            blockhash = self.rpc.latest_blockhash()
        except RpcError as exc:
            raise VenueTransientError(f"the cluster did not answer ({exc.message})", venue=self.name) from None
        price = fee.unit_price_within(units, 0)  # the trader's fee policy (trading.execution.policy), within the cap
        instructions = [set_compute_unit_limit(units), set_compute_unit_price(price)] + transfer_instructions(
            owner=owner, destination=destination, mint=mint, decimals=decimals, program=program, amount=amount)
        message = MessageV0.try_compile(Pubkey.from_string(owner), instructions, [],
                                        Hash.from_string(blockhash.blockhash))
        unsigned = VersionedTransaction.populate(message, [Signature.default()])
        swap = SwapTransaction(venue=self.name, transaction=bytes(unsigned),
                               last_valid_block_height=blockhash.last_valid_block_height,
                               prioritization_fee_lamports=price * units // 1_000_000, compute_unit_limit=units)
        return RoutedSwap(quote=_quote(venue=self.name, mint=mint, amount=amount, raw={}), swap=swap, skipped=())


class PaperTransferVenue:
    """A paper withdrawal: a paper transaction of the owner's balance changes (the amount and a network fee)."""

    name = "paper"

    def build(self, *, owner: str, destination: str, mint: str, decimals: int, program: str, amount: int,
              fee: FeePolicy) -> RoutedSwap:
        sol = mint == SOL_MINT
        body = {"owner": owner, "to": destination, "mint": mint, "fee": PAPER_TRANSFER_FEE_LAMPORTS,
                "sol": -(amount if sol else 0) - PAPER_TRANSFER_FEE_LAMPORTS, "tokens": 0 if sol else -amount}
        swap = SwapTransaction(venue=self.name, transaction=json.dumps(body, sort_keys=True).encode(),
                               last_valid_block_height=PAPER_LAST_VALID_HEIGHT, prioritization_fee_lamports=0,
                               compute_unit_limit=None)
        return RoutedSwap(quote=_quote(venue=self.name, mint=mint, amount=amount, raw={}), swap=swap, skipped=())
