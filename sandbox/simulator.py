"""The market simulator: tokens and their prices (SOL per whole token, Decimal) as seeded random walks.

Each token walks in steps of `step_seconds` of wall time: a log-normal move with drift and volatility, and now and then a
jump (a pump, or a rug that takes most of the price away). The path of every token is a function of the market seed and
the token's symbol, so two markets with one seed walk alike step for step. Tests force paths with `set_price` / `move`,
or `pause()` the walk so that nothing moves unless they say so.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from solders.keypair import Keypair

SOL_MINT = "So11111111111111111111111111111111111111112"
SPL_TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
PRICE_DIGITS = 12  # significant digits of a SOL price; USD prices keep 15, which a JSON float carries exactly
USD_DIGITS = 15


class MarketError(ValueError):
    """Bad input to the simulator (unknown mint, non-positive price...)."""


@dataclass
class SimToken:
    mint: str
    symbol: str
    name: str
    decimals: int
    token_program: str
    price: Decimal
    open_price: Decimal  # the price when the token was added: the base of priceChange24h and of reset_prices()
    volatility: Decimal
    drift: Decimal
    jump_probability: Decimal
    liquidity_lamports: int
    rng: random.Random = field(repr=False)
    key_seed: bytes = field(default=b"", repr=False)  # the mint keypair's seed (the sandbox creates the mint)
    transfer_fee_bps: int = 0  # Token-2022 TransferFeeConfig: withheld from every transfer of the token
    # The risks a token safety check looks for, made real on chain by sandbox/mints.py (and, for `sellable`, by the pools)
    transfer_fee_mutable: bool = False  # the TransferFeeConfig keeps an authority that can change the fee
    freeze_authority: bool = False  # the mint keeps a freeze authority
    permanent_delegate: bool = False  # Token-2022 PermanentDelegate: someone may move or burn any holder's tokens
    sellable: bool = True  # False: the pools route buys only (a honeypot)
    holders_bps: tuple[int, ...] = ()  # shares of the supply (basis points) held by wallets other than the pool
    steps: int = 0
    forced: list[Decimal] = field(default_factory=list, repr=False)  # prices the next steps take instead of walking

    def as_dict(self) -> dict:
        return {
            "mint": self.mint,
            "symbol": self.symbol,
            "name": self.name,
            "decimals": self.decimals,
            "token_program": self.token_program,
            "price": str(self.price),
            "open_price": str(self.open_price),
            "liquidity_lamports": self.liquidity_lamports,
            "transfer_fee_bps": self.transfer_fee_bps,
            "transfer_fee_mutable": self.transfer_fee_mutable,
            "freeze_authority": self.freeze_authority,
            "permanent_delegate": self.permanent_delegate,
            "sellable": self.sellable,
            "holders_bps": list(self.holders_bps),
        }


# Seeded tokens: both decimals that occur (6 and 9) and both token programs.
DEFAULT_TOKENS = (
    {"symbol": "JRVS", "name": "Jarvis Coin", "decimals": 6, "price": Decimal("0.000450")},
    {"symbol": "MOON", "name": "Moon Shot", "decimals": 9, "price": Decimal("0.0125")},
    {"symbol": "BAGZ", "name": "Bags Token", "decimals": 6, "price": Decimal("0.0000082"), "token_program": TOKEN_2022},
    {"symbol": "RUGR", "name": "Rug Runner", "decimals": 9, "price": Decimal("0.00031"), "jump_probability": Decimal("0.01")},
)
# A token for each risk the safety card names, each real on chain (see sandbox/mints.py).
RISK_TOKENS = (
    {"symbol": "FRZR", "name": "Freeze Ray", "decimals": 6, "price": Decimal("0.00021"), "freeze_authority": True},
    {"symbol": "DLGT", "name": "Delegate Trap", "decimals": 6, "price": Decimal("0.00034"), "token_program": TOKEN_2022,
     "permanent_delegate": True},
    {"symbol": "TAXX", "name": "Tax Collector", "decimals": 6, "price": Decimal("0.00052"), "token_program": TOKEN_2022,
     "transfer_fee_bps": 1000, "transfer_fee_mutable": True},
    {"symbol": "WHAL", "name": "Whale Pond", "decimals": 9, "price": Decimal("0.0011"),
     "holders_bps": (2_800, 2_800, 2_800, *(100,) * 6)},
    {"symbol": "HNYP", "name": "Honey Pot", "decimals": 6, "price": Decimal("0.00077"), "sellable": False},
)
# Everywhere else three quarters of the supply is spread over 25 wallets (3% each); the pool keeps the rest.
SPREAD_HOLDERS_BPS = (300,) * 25


def _quantize(value: Decimal, digits: int = PRICE_DIGITS) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = digits
        return +value


class Market:
    """Thread-safe set of simulated tokens; prices advance lazily with wall time while running."""

    def __init__(self, *, seed: int = 7, step_seconds: float = 1.0, sol_usd: Decimal = Decimal("150"), running: bool = True):
        if step_seconds <= 0:
            raise MarketError("step_seconds must be positive")
        self.seed = seed
        self.step_seconds = step_seconds
        self.sol_usd = sol_usd
        self._tokens: dict[str, SimToken] = {}
        self._lock = threading.RLock()
        self._running = running
        self._last_step = time.monotonic()
        self.version = 0  # bumps on every price change; the RPC's contextSlot-like marker for quotes

    # --- tokens ---------------------------------------------------------------------------------------
    def add_token(
        self,
        *,
        symbol: str,
        decimals: int,
        price: Decimal,
        name: str | None = None,
        token_program: str = SPL_TOKEN,
        volatility: Decimal = Decimal("0.004"),
        drift: Decimal = Decimal("0"),
        jump_probability: Decimal = Decimal("0.002"),
        liquidity_lamports: int = 2_000 * 10**9,
        transfer_fee_bps: int = 0,
        transfer_fee_mutable: bool = False,
        freeze_authority: bool = False,
        permanent_delegate: bool = False,
        sellable: bool = True,
        holders_bps: tuple[int, ...] = SPREAD_HOLDERS_BPS,
    ) -> SimToken:
        price = Decimal(price)
        if not (0 <= decimals <= 12):
            raise MarketError("decimals must be between 0 and 12")
        if price <= 0:
            raise MarketError("price must be positive")
        if token_program not in (SPL_TOKEN, TOKEN_2022):
            raise MarketError("token_program must be the SPL Token or the Token-2022 program")
        if transfer_fee_bps and (token_program != TOKEN_2022 or not 0 < int(transfer_fee_bps) <= 10_000):
            raise MarketError("a transfer fee (1..10000 bps) needs the Token-2022 program")
        if permanent_delegate and token_program != TOKEN_2022:
            raise MarketError("a permanent delegate needs the Token-2022 program")
        if any(int(b) <= 0 for b in holders_bps) or sum(int(b) for b in holders_bps) >= 10_000:
            raise MarketError("holders_bps must be positive shares that leave the pool some of the supply")
        digest = hashlib.sha256(f"jarvis-sandbox:{self.seed}:{symbol}".encode()).digest()
        mint = str(Keypair.from_seed(digest).pubkey())
        token = SimToken(
            mint=mint,
            symbol=symbol,
            name=name or symbol,
            decimals=decimals,
            token_program=token_program,
            price=_quantize(price),
            open_price=_quantize(price),
            volatility=Decimal(volatility),
            drift=Decimal(drift),
            jump_probability=Decimal(jump_probability),
            liquidity_lamports=int(liquidity_lamports),
            rng=random.Random(int.from_bytes(digest[:8], "big")),
            key_seed=digest,
            transfer_fee_bps=int(transfer_fee_bps),
            transfer_fee_mutable=bool(transfer_fee_mutable),
            freeze_authority=bool(freeze_authority),
            permanent_delegate=bool(permanent_delegate),
            sellable=bool(sellable),
            holders_bps=tuple(int(b) for b in holders_bps),
        )
        with self._lock:
            if mint in self._tokens:
                raise MarketError(f"a token with symbol {symbol} already exists")
            self._tokens[mint] = token
            self.version += 1
        return token

    def seed_default_tokens(self) -> list[SimToken]:
        return [self.add_token(**spec) for spec in (*DEFAULT_TOKENS, *RISK_TOKENS)]

    def tokens(self) -> list[SimToken]:
        with self._lock:
            self._catch_up()
            return list(self._tokens.values())

    def token(self, mint: str) -> SimToken:
        with self._lock:
            self._catch_up()
            try:
                return self._tokens[mint]
            except KeyError:
                raise MarketError(f"unknown mint {mint}") from None

    def has(self, mint: str) -> bool:
        return mint in self._tokens

    def by_symbol(self, symbol: str) -> SimToken:
        for token in self.tokens():
            if token.symbol == symbol:
                return token
        raise MarketError(f"unknown symbol {symbol}")

    # --- prices ---------------------------------------------------------------------------------------
    def price(self, mint: str) -> Decimal:
        return self.token(mint).price

    def usd_price(self, mint: str) -> Decimal:
        if mint == SOL_MINT:
            return self.sol_usd
        return _quantize(self.price(mint) * self.sol_usd, USD_DIGITS)

    def set_price(self, mint: str, price: Decimal) -> Decimal:
        price = Decimal(price)
        if price <= 0:
            raise MarketError("price must be positive")
        with self._lock:
            token = self.token(mint)
            token.price = _quantize(price)
            self.version += 1
            return token.price

    def force_path(self, mint: str, prices) -> None:
        """The next len(prices) steps of this token take these prices (then it walks on from the last)."""
        path = [Decimal(p) for p in prices]
        if not path or any(p <= 0 for p in path):
            raise MarketError("a path needs at least one price, all positive")
        with self._lock:
            self.token(mint).forced = [_quantize(p) for p in path]

    def move(self, mint: str, pct: Decimal) -> Decimal:
        """Move a price by `pct` percent now (-30 = a 30% drop)."""
        pct = Decimal(pct)
        if pct <= -100:
            raise MarketError("a move must leave a positive price (pct > -100)")
        with self._lock:
            return self.set_price(mint, self.token(mint).price * (1 + pct / 100))

    def reset_prices(self) -> None:
        """Every token back to the price it started with (test isolation)."""
        with self._lock:
            for token in self._tokens.values():
                token.price = token.open_price
                token.forced = []
            self.version += 1

    # --- the walk -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def pause(self) -> None:
        with self._lock:
            self._catch_up()
            self._running = False

    def resume(self) -> None:
        with self._lock:
            self._last_step = time.monotonic()
            self._running = True

    def step(self, n: int = 1) -> None:
        """Advance every token by n steps of its walk, whatever the clock says."""
        with self._lock:
            for _ in range(n):
                for token in self._tokens.values():
                    self._step_token(token)
            self.version += 1

    def _catch_up(self) -> None:
        if not self._running:
            return
        now = time.monotonic()
        due = int((now - self._last_step) / self.step_seconds)
        if due <= 0:
            return
        self._last_step += due * self.step_seconds
        self.step(min(due, 3600))

    @staticmethod
    def _step_token(token: SimToken) -> None:
        rng = token.rng
        if token.forced:
            token.price = token.forced.pop(0)
            token.steps += 1
            return
        shock = Decimal(repr(round(rng.gauss(0.0, 1.0), 9)))
        log_return = token.drift + token.volatility * shock
        if Decimal(repr(rng.random())) < token.jump_probability:
            # a pump (+20..+120%) or, more often, a rug (-40..-90%)
            if rng.random() < 0.35:
                log_return += Decimal(repr(round(rng.uniform(0.18, 0.79), 9)))
            else:
                log_return += Decimal(repr(round(rng.uniform(-2.3, -0.51), 9)))
        token.price = _quantize(token.price * log_return.exp())
        token.steps += 1
