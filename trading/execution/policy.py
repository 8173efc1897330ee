"""Pure execution decisions: how hard to push (priority fee, slippage) and what a landed swap actually did."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.venues.base import FeePolicy

LAMPORTS_PER_SOL = 1_000_000_000
MAX_SLIPPAGE_BPS = 5_000
EXIT_FEE_MULTIPLIER = 2  # exits may pay up to twice an entry's cap: a missed stop-loss costs more than a fee
RETRY_SLIPPAGE_STEP_BPS = 100


PRIORITY_LEVELS = ("low", "medium", "high", "veryHigh")
# Jupiter /build's computeUnitPricePercentile names: medium = p25, high = p50, veryHigh = p75 (the nearest to ours).
JUPITER_LEVEL = {"low": "medium", "medium": "high", "high": "veryHigh", "veryHigh": "veryHigh"}


def priority_level_for(*, policy: str, side: str) -> str:
    """The level an order bids at: the trader's level ("auto" bids at medium), one level higher for an exit."""
    level = "medium" if policy == "auto" else policy
    if level not in PRIORITY_LEVELS:
        raise ValueError(f"unknown priority fee policy {policy!r}")
    if side == "sell":
        level = PRIORITY_LEVELS[min(PRIORITY_LEVELS.index(level) + 1, len(PRIORITY_LEVELS) - 1)]
    return level


def priority_fee_describe(*, policy: str, level_prices: dict[str, int], percentiles: dict[str, int]) -> str:
    """What a policy bids, in one sentence for the trader (entries; exits one level higher)."""
    entry, exit_ = (priority_level_for(policy=policy, side=side) for side in ("buy", "sell"))
    if policy == "auto":
        return (f"the {percentiles[entry]}th percentile of recent priority fees on the accounts a swap touches "
                f"(exits the {percentiles[exit_]}th)")
    return f"{level_prices[entry]:,} micro-lamports a compute unit (exits {level_prices[exit_]:,})"


def bundle_tip_for(*, side: str, landed_tips: dict[int, int], percentile: int, minimum: int, maximum: int) -> int:
    """A bundle's tip in lamports: the landed tips at ``percentile`` (the next percentile reported for an exit),
    within [minimum, maximum]. ``landed_tips``: percentile -> lamports (bags.fm's jito-recent-fees)."""
    reported = sorted(landed_tips)
    at = [p for p in reported if p >= percentile] or reported[-1:]
    if side == "sell" and len(at) > 1:
        at = at[1:]
    return max(minimum, min(maximum, landed_tips[at[0]]))


def percentile(values: list[int], pct: int) -> int:
    """The nearest-rank percentile of ``values`` (0 for none)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil(pct/100 * n), at least the first
    return ordered[min(rank, len(ordered)) - 1]


def compute_unit_price_for(
    *, policy: str, side: str, recent_fees: list[int] | None, level_prices: dict[str, int], percentiles: dict[str, int]
) -> int:
    """Micro-lamports per compute unit for an order: "auto" takes the level's percentile of the recent
    prioritization fees (``recent_fees``; none known: the level's fixed price), a fixed level its configured price.
    The cap in lamports is applied by the venue, which knows the transaction's compute-unit limit."""
    level = priority_level_for(policy=policy, side=side)
    if policy == "auto" and recent_fees:
        return percentile(recent_fees, percentiles[level])
    return level_prices[level]


def fee_policy_for(*, side: str, max_lamports: int, attempt: int, compute_unit_price: int = 0,
                   policy: str = "auto") -> FeePolicy:
    """The order's fee: its compute-unit price, and a cap of the whole priority fee in lamports: the trader's cap
    for entries, twice that for exits; each retry raises the cap by half."""
    if max_lamports <= 0:
        raise ValueError("max_lamports must be positive")
    is_exit = side == "sell"
    cap = max_lamports * (EXIT_FEE_MULTIPLIER if is_exit else 1)
    cap = cap + cap * max(0, attempt - 1) // 2
    level = priority_level_for(policy=policy, side=side)
    return FeePolicy(priority_level=JUPITER_LEVEL[level], max_lamports=cap, compute_unit_price=compute_unit_price)


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
