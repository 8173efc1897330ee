"""The paper venue: quotes at the price feed's price minus a fee and a slippage model; its swaps are paper
transactions that only the paper chain (trading.chain.paper) lands. No network client besides the price feed.

Token account rent is modelled as on chain: the trader's paper "token account" of a mint exists while their live paper
positions of it hold tokens. A buy into none pays the rent of a new SPL Token account (SPL_ACCOUNT_RENT); the sell that
empties it gets back the rent those positions paid. The paper chain reports it as a chain reports an account created or
closed, so the fill reads it the same way in every mode.

It holds no venue or cluster client, and execution gives a paper order this venue and the paper chain and nothing else
(trading.execution.clients.rails_for), so a paper order cannot reach bags.fm, Jupiter's swap API or a Solana cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from django.conf import settings

from trading.chain.rpc import SOL_MINT
from trading.chain.token_accounts import SPL_ACCOUNT_RENT
from trading.models.choices import LAMPORTS_PER_SOL
from trading.prices import PricePoint
from trading.venues.base import FeePolicy, Quote, SwapTransaction, Venue, VenuePermanentError

_BPS = Decimal(10_000)
PAPER_LAST_VALID_HEIGHT = 2**62  # a paper transaction never expires


@dataclass(frozen=True)
class PaperQuote:
    amount_in: int
    amount_out: int  # tokens for a buy, lamports for a sell, after fee and slippage
    fee_lamports: int
    fill_price: Decimal  # SOL per whole token the fill happens at
    slippage_bps: Decimal
    price: Decimal  # the feed price the quote started from

    def min_out(self, slippage_bps: int) -> int:
        return int(Decimal(self.amount_out) * (_BPS - slippage_bps) / _BPS)


def paper_slippage_bps(*, sol_traded: Decimal) -> Decimal:
    return Decimal(settings.PAPER_SLIPPAGE_BPS) + Decimal(settings.PAPER_IMPACT_BPS_PER_SOL) * sol_traded


def paper_quote(*, side: str, amount_in: int, price: Decimal, decimals: int) -> PaperQuote:
    """Pure: what the paper venue gives for `amount_in` (lamports to buy, base units to sell) at `price`."""
    scale = Decimal(10) ** decimals
    fee_bps = Decimal(settings.PAPER_FEE_BPS)
    if side == "buy":
        fee = int(Decimal(amount_in) * fee_bps / _BPS)
        slip = paper_slippage_bps(sol_traded=Decimal(amount_in) / LAMPORTS_PER_SOL)
        fill_price = price * (_BPS + slip) / _BPS
        tokens = (Decimal(amount_in - fee) / LAMPORTS_PER_SOL / fill_price * scale).to_integral_value(ROUND_FLOOR)
        return PaperQuote(amount_in, int(tokens), fee, fill_price, slip, price)
    gross_sol = Decimal(amount_in) / scale * price
    slip = paper_slippage_bps(sol_traded=gross_sol)
    fill_price = max(price * (_BPS - slip) / _BPS, Decimal(0))
    gross = int((Decimal(amount_in) / scale * fill_price * LAMPORTS_PER_SOL).to_integral_value(ROUND_FLOOR))
    fee = int(Decimal(gross) * fee_bps / _BPS)
    return PaperQuote(amount_in, gross - fee, fee, fill_price, slip, price)


class PaperTokenAccount(Protocol):
    """The trader's paper token account of one mint (trading.execution.clients.PaperAccount reads it)."""

    def is_empty(self) -> bool:
        """It holds nothing (a buy then opens it and pays its rent)."""

    def holding(self) -> tuple[int, int]:
        """(base units it holds, rent its positions paid and did not get back)."""


class PaperVenue(Venue):
    """Quotes at the price it is given (the feed's, read by the landing: trading.execution.onchain.order_land); a swap
    is a paper transaction that states what the trade moves: the owner's SOL and token balances and the fee."""

    name = "paper"

    def __init__(self, *, decimals: int, account: PaperTokenAccount, price: PricePoint | None):
        self.decimals = decimals
        self.account = account  # the trader's paper token account of the mint, asked only what a swap needs
        self.price = price  # None: the feed had no price for the mint

    def rent_for(self, *, buying: bool, amount: int) -> int:
        """Rent a swap of ``amount`` pays into (+) or gets back from (-) the paper token account: a buy opens the
        account when it holds nothing; a sell of all it holds closes it and gets back the rent its positions paid."""
        if buying:
            return SPL_ACCOUNT_RENT if self.account.is_empty() else 0
        held, held_rent = self.account.holding()
        return -max(held_rent, 0) if amount >= held else 0

    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        buying = input_mint == SOL_MINT
        mint = output_mint if buying else input_mint
        point = self.price
        if point is None:
            raise VenuePermanentError(f"there is no price for {mint} right now, so nothing was traded", venue=self.name)
        found = paper_quote(side="buy" if buying else "sell", amount_in=amount, price=point.price, decimals=self.decimals)
        if found.amount_out <= 0:
            raise VenuePermanentError("the trade is too small to give anything at this price", venue=self.name)
        return Quote(
            venue=self.name,
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=amount,
            out_amount=found.amount_out,
            min_out_amount=found.min_out(slippage_bps),
            slippage_bps=slippage_bps,
            price_impact=found.slippage_bps / _BPS,  # a fraction, as the other venues give it
            raw={"fee": found.fee_lamports, "mint": mint},
        )

    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction:
        buying = quote.input_mint == SOL_MINT
        body = {
            "owner": user_public_key,
            "mint": quote.raw["mint"],
            "sol": -quote.in_amount if buying else quote.out_amount,  # the owner's lamports, the fee taken
            "tokens": quote.out_amount if buying else -quote.in_amount,
            "fee": quote.raw["fee"],
            "rent": self.rent_for(buying=buying, amount=quote.in_amount),
        }
        return SwapTransaction(
            venue=self.name,
            transaction=json.dumps(body, sort_keys=True).encode(),
            last_valid_block_height=PAPER_LAST_VALID_HEIGHT,
            prioritization_fee_lamports=0,
            compute_unit_limit=None,
        )
