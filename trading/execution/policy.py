"""Pure execution decisions: how hard to push (priority fee, slippage) and what a landed swap actually did."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.venues.base import FeePolicy

LAMPORTS_PER_SOL = 1_000_000_000
MAX_SLIPPAGE_BPS = 5_000
EXIT_FEE_MULTIPLIER = 2  # exits may pay up to twice an entry's cap: a missed stop-loss costs more than a fee
RETRY_SLIPPAGE_STEP_BPS = 100


def fee_policy_for(*, side: str, max_lamports: int, attempt: int) -> FeePolicy:
    """Entries bid "high" up to the cap; exits bid "veryHigh" up to twice the cap. Each retry raises the cap by half."""
    if max_lamports <= 0:
        raise ValueError("max_lamports must be positive")
    is_exit = side == "sell"
    cap = max_lamports * (EXIT_FEE_MULTIPLIER if is_exit else 1)
    cap = cap + cap * max(0, attempt - 1) // 2
    return FeePolicy(priority_level="veryHigh" if is_exit else "high", max_lamports=cap)


def slippage_for(*, side: str, base_bps: int, exit_bonus_bps: int, attempt: int) -> int:
    """Entries use the trader's setting; exits add a bonus and widen by a step on each retry (capped at 50 %)."""
    if base_bps < 0 or exit_bonus_bps < 0:
        raise ValueError("slippage must be non-negative")
    if side != "sell":
        return min(base_bps, MAX_SLIPPAGE_BPS)
    widened = base_bps + exit_bonus_bps + RETRY_SLIPPAGE_STEP_BPS * max(0, attempt - 1)
    return min(widened, MAX_SLIPPAGE_BPS)


@dataclass(frozen=True)
class Fill:
    in_amount: int  # buy: lamports spent (fees included, rent not); sell: token base units sold
    out_amount: int  # buy: token base units received; sell: lamports received, net of fees, returned rent not included
    price: Decimal  # SOL per whole token
    fee_lamports: int
    rent_lamports: int = 0  # paid into a token account it created (+), or returned by one it closed (-)


def fill_from_deltas(
    *, side: str, sol_delta: int, token_delta: int, fee_lamports: int, decimals: int, exact_in_lamports: int | None = None,
    rent_delta: int = 0,
) -> Fill:
    """The fill of a landed swap from the wallet's balance changes in that transaction.

    ``sol_delta`` is the fee payer's lamport change (fee and rent included), ``token_delta`` its token change,
    ``rent_delta`` the lamports that moved into (+) or out of (-) its token accounts of the mint (TransactionMeta.
    rent_delta). Rent is a deposit the wallet gets back when it closes the account, not a cost of the swap: it is kept
    apart from what the swap spent or received. The price excludes the network fee and the rent: it is what the swap
    itself paid or received per whole token.
    """
    swap_delta = sol_delta + rent_delta  # the wallet's change had no rent moved
    if side == "buy":
        spent, received = -swap_delta, token_delta
        swapped = exact_in_lamports if exact_in_lamports else spent - fee_lamports
    else:
        spent, received = -token_delta, swap_delta
        swapped = received + fee_lamports
    if spent <= 0 or received <= 0 or swapped <= 0:
        raise ValueError(f"balance changes do not describe a {side}: sol {sol_delta}, token {token_delta}, rent {rent_delta}")
    tokens = spent if side == "sell" else received
    price = (Decimal(swapped) / LAMPORTS_PER_SOL) / (Decimal(tokens) / (Decimal(10) ** decimals))
    return Fill(in_amount=spent, out_amount=received, price=price, fee_lamports=fee_lamports, rent_lamports=rent_delta)
