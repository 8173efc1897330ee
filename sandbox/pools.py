"""Sandbox pools: one per simulated token, so a swap is a real transaction on the sandbox chain.

A pool is an authority keypair holding SOL and a token account holding the token. A buy moves SOL from the trader to the
authority (system transfer) and tokens from the pool's token account to the trader's associated token account (created
idempotently); a sell goes the other way. The venue hands the trader a VersionedTransaction (bags.fm) or its instructions
(Jupiter's /build) whose fee payer and only signer to fill is the trader: the pool authority's slot is left empty and the
sandbox chain, which holds every pool authority's key, signs for it when the transaction arrives, as an AMM program signs
for its own pool authority. So a client may add instructions to the swap (the desk closes the token account a sell
empties) without breaking anyone's signature.

Pricing is a constant-product curve around the simulator's price: virtual reserves of `liquidity_lamports` SOL and
liquidity / price tokens, so the marginal price is the simulator's and a trade of size x moves it by x / (reserve + x).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.instructions import models as token_models

from sandbox.chain import Chain, instruction_key, message_key
from sandbox.ledger import SwapDetails
from sandbox.mints import create_pool_mint, transfer_fee
from sandbox.simulator import SOL_MINT, Market, SimToken

LAMPORTS_PER_SOL = 10**9
POOL_SOL_RESERVE = 10**7 * LAMPORTS_PER_SOL
COMPUTE_UNIT_LIMIT = 120_000


class NoRoute(Exception):
    """Neither side of the pair is a pool's token, or the trade is too small to yield anything."""


@dataclass(frozen=True)
class Quote:
    side: str  # buy: SOL -> token; sell: token -> SOL
    mint: str
    in_amount: int
    out_amount: int
    fee_amount: int  # in the input token for buys (lamports), in lamports of the output for sells
    price_impact: Decimal  # fraction, e.g. Decimal("0.0012")
    price: Decimal  # the simulator's price used (SOL per whole token)
    transfer_fee: int = 0  # Token-2022 transfer fee withheld from the token leg (out for buys, in for sells)

    def min_out(self, slippage_bps: int) -> int:
        return self.out_amount * (10_000 - slippage_bps) // 10_000


def quote_exact_in(*, side: str, amount: int, token: SimToken, price: Decimal, fee_bps: int) -> Quote:
    """Pure pricing on the virtual constant-product curve; amounts in base units, no float."""
    if amount <= 0:
        raise NoRoute("amount must be positive")
    lamports_per_unit = price * LAMPORTS_PER_SOL / (Decimal(10) ** token.decimals)
    sol_reserve = Decimal(token.liquidity_lamports)
    token_reserve = sol_reserve / lamports_per_unit
    if side == "buy":
        fee = amount * fee_bps // 10_000
        net = Decimal(amount - fee)
        sent = int(token_reserve * net / (sol_reserve + net))
        withheld = transfer_fee(sent, token.transfer_fee_bps)
        out = sent - withheld  # what reaches the trader
        impact = net / (sol_reserve + net)
    else:
        withheld = transfer_fee(amount, token.transfer_fee_bps)
        arrived = amount - withheld  # what reaches the pool
        gross = int(sol_reserve * arrived / (token_reserve + arrived))
        fee = gross * fee_bps // 10_000
        out = gross - fee
        impact = Decimal(arrived) / (token_reserve + arrived)
    if out <= 0:
        raise NoRoute("the amount is too small to be routed")
    return Quote(side=side, mint=token.mint, in_amount=amount, out_amount=out, fee_amount=fee,
                 price_impact=+impact.quantize(Decimal("1e-12")), price=price, transfer_fee=withheld)


@dataclass
class Pool:
    token: SimToken
    authority: Keypair
    vault: Pubkey  # the authority's token account
    program: Pubkey
    mint: Pubkey


class Pools:
    def __init__(self, *, market: Market, chain: Chain, fee_bps: int = 30):
        self.market = market
        self.chain = chain
        self.fee_bps = fee_bps
        self._pools: dict[str, Pool] = {}
        self._lock = threading.Lock()
        self.halted: set[str] = set()  # mints that do not trade now (a launch not live yet, or migrating: sandbox/launches.py)

    def ensure(self) -> None:
        """Create chain accounts for every simulated token that has no pool yet."""
        with self._lock:
            for token in self.market.tokens():
                if token.mint not in self._pools:
                    self._create(token)

    def _create(self, token: SimToken) -> Pool:
        seed = hashlib.sha256(f"jarvis-sandbox-pool:{self.market.seed}:{token.mint}".encode()).digest()
        authority = Keypair.from_seed(seed)
        mint, program = Pubkey.from_string(token.mint), Pubkey.from_string(token.token_program)
        supply = pool_supply(token)
        self.chain.set_lamports(authority.pubkey(), POOL_SOL_RESERVE)
        vault = create_pool_mint(self.chain, mint_key=Keypair.from_seed(token.key_seed), authority=authority,
                                 token=token, supply=supply)
        pool = Pool(token=token, authority=authority, vault=vault, program=program, mint=mint)
        self._pools[token.mint] = pool
        self.chain.cosigners[authority.pubkey()] = authority
        return pool

    def pool(self, mint: str) -> Pool:
        if mint not in self._pools:
            if not self.market.has(mint):
                raise NoRoute(f"no pool for {mint}")
            self.ensure()
        return self._pools[mint]

    # --- quotes ---------------------------------------------------------------------------------------
    def quote(self, *, input_mint: str, output_mint: str, amount: int) -> Quote:
        if input_mint == SOL_MINT and output_mint != SOL_MINT and self.market.has(output_mint):
            side, mint = "buy", output_mint
        elif output_mint == SOL_MINT and input_mint != SOL_MINT and self.market.has(input_mint):
            side, mint = "sell", input_mint
        else:
            raise NoRoute("no route between these mints")
        if mint in self.halted:
            raise NoRoute("this token is not trading now (its launch is not live, or it is migrating to its pool)")
        token = self.market.token(mint)
        if side == "sell" and not token.sellable:
            raise NoRoute("this token cannot be sold")
        return quote_exact_in(side=side, amount=amount, token=token, price=token.price, fee_bps=self.fee_bps)

    # --- swap transactions ----------------------------------------------------------------------------
    def swap_legs(self, *, quote: Quote, min_out: int, owner: Pubkey,
                  fail_reason: str = "") -> tuple[list[Instruction], Instruction, int, str]:
        """The swap at the current price as (the trader's legs, the pool's leg signed by its authority, out amount,
        why it will fail or ""). If the current price would pay less than `min_out`, or a fault asks for it, the pool's
        or the trader's token transfer carries the wrong decimals, so the swap fails on chain as a slippage-protected
        swap would."""
        pool = self.pool(quote.mint)
        token = self.market.token(quote.mint)
        now = quote_exact_in(side=quote.side, amount=quote.in_amount, token=token, price=token.price, fee_bps=self.fee_bps)
        out = now.out_amount
        if not fail_reason and out < min_out:
            fail_reason = f"slippage exceeded: {out} < {min_out}"
        decimals = token.decimals + (1 if fail_reason else 0)
        trader_ata = get_associated_token_address(owner, pool.mint, pool.program)
        if quote.side == "buy":
            legs = [create_idempotent_associated_token_account(owner, owner, pool.mint, pool.program),
                    transfer(TransferParams(from_pubkey=owner, to_pubkey=pool.authority.pubkey(), lamports=quote.in_amount))]
            payout = _transfer_checked(pool, source=pool.vault, dest=trader_ata, owner=pool.authority.pubkey(),
                                       amount=out + now.transfer_fee, decimals=decimals)
        else:
            legs = [_transfer_checked(pool, source=trader_ata, dest=pool.vault, owner=owner, amount=quote.in_amount,
                                      decimals=decimals)]
            payout = transfer(TransferParams(from_pubkey=pool.authority.pubkey(), to_pubkey=owner, lamports=out))
        return legs, payout, out, fail_reason

    def build_swap(self, *, venue: str, quote: Quote, min_out: int, owner: Pubkey, request_id: str,
                   priority_fee_lamports: int = 0, fail_reason: str = "") -> tuple[VersionedTransaction, int]:
        """A swap at the current price, for the trader to sign (the chain signs for the pool's authority, as a program
        signs for its own authority on a real AMM), so a client may add instructions (the desk closes the token account
        a sell empties) or set its own compute-unit price before signing; returns (transaction, lastValidBlockHeight).
        It is registered under its message and under the pool's leg, so a changed transaction is still known."""
        legs, payout, out, fail_reason = self.swap_legs(quote=quote, min_out=min_out, owner=owner, fail_reason=fail_reason)
        micro_lamports = priority_fee_lamports * 1_000_000 // COMPUTE_UNIT_LIMIT
        ixs = [set_compute_unit_limit(COMPUTE_UNIT_LIMIT), set_compute_unit_price(micro_lamports), *legs, payout]
        blockhash, last_valid = self.chain.latest_blockhash()
        message = MessageV0.try_compile(owner, ixs, [], Hash.from_string(blockhash))
        tx = VersionedTransaction.populate(message, [Signature.default()] * message.header.num_required_signatures)
        details = self._details(venue, quote, owner, out, min_out, request_id, fail_reason)
        self.chain.ledger.register_swap(message_key(tx), details)
        self.chain.ledger.register_swap(instruction_key(payout), details)
        return tx, last_valid

    def build_instructions(self, *, venue: str, quote: Quote, min_out: int, owner: Pubkey, request_id: str,
                           fail_reason: str = "") -> tuple[list[Instruction], Instruction]:
        """The swap as instructions for a client that assembles its own transaction (Jupiter's /build): (the trader's
        legs, the pool's leg). The pool's authority cannot sign a message it has not seen: the sandbox chain signs for
        it when a transaction names it (as a program signs for its own authority on a real AMM)."""
        legs, payout, out, fail_reason = self.swap_legs(quote=quote, min_out=min_out, owner=owner, fail_reason=fail_reason)
        self.chain.ledger.register_swap(instruction_key(payout), self._details(venue, quote, owner, out, min_out,
                                                                               request_id, fail_reason))
        return legs, payout

    @staticmethod
    def _details(venue, quote, owner, out, min_out, request_id, fail_reason) -> SwapDetails:
        return SwapDetails(venue=venue, owner=str(owner), mint=quote.mint, side=quote.side, in_amount=quote.in_amount,
                           out_amount=out, min_out_amount=min_out, request_id=request_id, will_fail=fail_reason)


def pool_supply(token: SimToken) -> int:
    """The mint's whole supply, all of it in the pool's vault at first (u64 fits 1.8e19)."""
    return min(10**12 * 10**token.decimals, 10**19)


def _transfer_checked(pool: Pool, *, source, dest, owner, amount: int, decimals: int):
    return transfer_checked(token_models.TransferCheckedParams(
        program_id=pool.program, source=source, mint=pool.mint, dest=dest, owner=owner, amount=amount, decimals=decimals,
    ))
