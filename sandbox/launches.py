"""bags.fm launches in the sandbox: a bonding curve that fills as buys land and migrates to a constant-product pool.

A launch goes through bags.fm's launch states (bags-sdk src/types/token-launch.ts ``TokenLaunchStatus``): PRE_LAUNCH
(registered, not trading: the pools refuse to route it), PRE_GRAD (trading on its bonding curve), MIGRATING (the curve
reached its migration threshold; trading paused while the pool is made) and MIGRATED (trading on the pool). As on Meteora's dynamic bonding
curve, which bags.fm launches on, migration starts when the SOL the curve holds reaches its threshold.

The curve holds ``filled_lamports``: the SOL of the buys of other wallets (the control API's ``/launches/fill``) plus
the SOL of every buy of the token that landed on the sandbox chain. Its price follows a constant-product curve on a
virtual SOL reserve: ``start_price * ((virtual + filled) / virtual) ** 2``. At migration the token's pool (the same
constant-product pool every sandbox token trades on) takes the curve's SOL as its liquidity, at the curve's last price.

The curve is on the chain as Meteora's DBC program keeps it: at ``dbcPoolKey`` a ``VirtualPool`` account (its config,
base mint, ``quote_reserve`` = the SOL in the curve, ``is_migrated``) and at ``dbcConfigKey`` a ``PoolConfig`` account
(its ``migration_quote_threshold``), owned by the DBC program id, in the layout of the program's IDL (the fields a
reader of the curve's progress reads; the rest zero).

The feed (``GET /token-launch/feed``) answers each launch in the row shape bags.fm's API reference documents for
it: ``{name, symbol, description, image, tokenMint, status, twitter, website, launchSignature, accountKeys,
numRequiredSigners, uri, dbcPoolKey, dbcConfigKey}``.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from sandbox.ledger import Ledger
from sandbox.pools import Pools
from sandbox.simulator import Market, MarketError

PRE_LAUNCH, PRE_GRAD, MIGRATING, MIGRATED = "PRE_LAUNCH", "PRE_GRAD", "MIGRATING", "MIGRATED"
STATES = (PRE_LAUNCH, PRE_GRAD, MIGRATING, MIGRATED)
DEFAULT_THRESHOLD = 85 * 10**9  # SOL the curve collects before it migrates (a common DBC configuration)
MIGRATE_SECONDS = 0.5  # how long MIGRATING lasts in the sandbox
# Meteora's dynamic bonding curve program and its two accounts' layouts (bags-sdk src/idl/dynamic-bonding-curve/idl.json)
DBC_PROGRAM = Pubkey.from_string("dbcij3LWUppWqq96dh6gJWwBifmcGfLSB5D4DuSMaqN")
VIRTUAL_POOL = (bytes([213, 224, 5, 209, 98, 69, 119, 92]), 424)
POOL_CONFIG = (bytes([26, 108, 14, 123, 116, 230, 129, 43]), 1048)


def _keypair(*parts: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(":".join(("jarvis-sandbox-launch", *parts)).encode()).digest())


def _key(*parts: str) -> str:
    return str(_keypair(*parts).pubkey())


@dataclass
class Launch:
    mint: str
    symbol: str
    name: str
    start_price: Decimal
    threshold_lamports: int
    status: str = PRE_LAUNCH
    filled_by_others: int = 0
    migrating_since: float | None = None

    @property
    def virtual_lamports(self) -> int:
        return max(1, self.threshold_lamports // 3)

    @property
    def pool_key(self) -> str:
        return _key(self.mint, "dbc-pool")

    @property
    def config_key(self) -> str:
        return _key(self.mint, "dbc-config")


class Launches:
    def __init__(self, *, pools: Pools, ledger: Ledger, migrate_seconds: float = MIGRATE_SECONDS):
        self.pools = pools
        self.market: Market = pools.market
        self.ledger = ledger
        self.migrate_seconds = migrate_seconds
        self._launches: dict[str, Launch] = {}
        self._written: dict[str, tuple] = {}
        self._lock = threading.RLock()

    def create(self, *, symbol: str, price: Decimal, decimals: int = 6, name: str = "",
               threshold_lamports: int = DEFAULT_THRESHOLD, launched: bool = False) -> Launch:
        if threshold_lamports <= 0:
            raise MarketError("threshold_lamports must be positive")
        token = self.market.add_token(symbol=symbol, decimals=decimals, price=Decimal(price), name=name or symbol,
                                      liquidity_lamports=max(1, threshold_lamports // 3), volatility=Decimal(0),
                                      jump_probability=Decimal(0))
        launch = Launch(mint=token.mint, symbol=symbol, name=token.name, start_price=token.price,
                        threshold_lamports=int(threshold_lamports), status=PRE_GRAD if launched else PRE_LAUNCH)
        with self._lock:
            self._launches[launch.mint] = launch
            self._halt(launch)
            self._write_accounts(launch)
        return launch

    def _halt(self, launch: Launch) -> None:
        """The pools route a launch's token only while it trades: on its curve (PRE_GRAD) or its pool (MIGRATED)."""
        if launch.status in (PRE_LAUNCH, MIGRATING):
            self.pools.halted.add(launch.mint)
        else:
            self.pools.halted.discard(launch.mint)

    def get(self, mint: str) -> Launch:
        with self._lock:
            if mint not in self._launches:
                raise MarketError(f"no launch for {mint}")
            return self._launches[mint]

    def go_live(self, mint: str) -> Launch:
        """PRE_LAUNCH -> PRE_GRAD: the launch transaction landed; the curve trades."""
        with self._lock:
            launch = self.get(mint)
            if launch.status == PRE_LAUNCH:
                launch.status = PRE_GRAD
                self._halt(launch)
            return launch

    def fill(self, mint: str, lamports: int) -> Launch:
        """Buys of other wallets landing on the curve: ``lamports`` of SOL more in it."""
        if lamports <= 0:
            raise MarketError("lamports must be positive")
        with self._lock:
            launch = self.get(mint)
            if launch.status != PRE_GRAD:
                raise MarketError(f"the launch is {launch.status}: only a PRE_GRAD curve takes buys")
            launch.filled_by_others += int(lamports)
        self.advance()
        return launch

    def filled(self, launch: Launch) -> int:
        landed = sum(e.swap.in_amount for e in self.ledger.landed_swaps(mint=launch.mint, side="buy"))
        return launch.filled_by_others + landed

    def progress_pct(self, launch: Launch) -> Decimal:
        if launch.status in (MIGRATING, MIGRATED):
            return Decimal(100)
        if launch.status == PRE_LAUNCH:
            return Decimal(0)
        return min(Decimal(100), Decimal(self.filled(launch) * 100) / launch.threshold_lamports).quantize(Decimal("0.01"))

    def advance(self) -> None:
        """Move each curve's price with its fill, start migrating a full curve, finish a migration that is due."""
        now = time.monotonic()
        with self._lock:
            for launch in self._launches.values():
                if launch.status == PRE_GRAD:
                    filled = min(self.filled(launch), launch.threshold_lamports)
                    v = Decimal(launch.virtual_lamports)
                    price = launch.start_price * ((v + filled) / v) ** 2
                    if self.market.price(launch.mint) != price:
                        self.market.set_price(launch.mint, price)
                    if filled >= launch.threshold_lamports:
                        launch.status, launch.migrating_since = MIGRATING, now
                        self._halt(launch)
                elif launch.status == MIGRATING and now - (launch.migrating_since or now) >= self.migrate_seconds:
                    self.market.token(launch.mint).liquidity_lamports = launch.threshold_lamports
                    launch.status = MIGRATED
                    self._halt(launch)
                self._write_accounts(launch)

    def _write_accounts(self, launch: Launch) -> None:
        """The curve's VirtualPool and PoolConfig accounts on the chain, when what they hold changed."""
        reserve = min(self.filled(launch), launch.threshold_lamports)
        mark = (reserve, launch.status)
        if self._written.get(launch.mint) == mark:
            return
        pool = bytearray(VIRTUAL_POOL[1])
        pool[:8] = VIRTUAL_POOL[0]
        pool[72:104] = bytes(Pubkey.from_string(launch.config_key))
        pool[136:168] = bytes(Pubkey.from_string(launch.mint))
        struct.pack_into("<Q", pool, 240, reserve)
        pool[305] = 1 if launch.status == MIGRATED else 0
        config = bytearray(POOL_CONFIG[1])
        config[:8] = POOL_CONFIG[0]
        struct.pack_into("<Q", config, 264, launch.threshold_lamports)
        chain = self.pools.chain
        with chain.lock:
            for key, data in ((launch.pool_key, pool), (launch.config_key, config)):
                rent = chain.svm.minimum_balance_for_rent_exemption(len(data))
                chain.svm.set_account(Pubkey.from_string(key),
                                      Account(lamports=rent, data=bytes(data), owner=DBC_PROGRAM, executable=False))
        self._written[launch.mint] = mark

    def feed(self) -> list[dict]:
        """The launch feed, newest first, in bags.fm's documented row shape."""
        self.advance()
        with self._lock:
            launches = list(self._launches.values())[::-1]
        return [self.row(launch) for launch in launches]

    @staticmethod
    def row(launch: Launch) -> dict:
        live = launch.status != PRE_LAUNCH
        return {
            "name": launch.name, "symbol": launch.symbol, "description": f"{launch.name} on the sandbox curve",
            "image": "", "tokenMint": launch.mint, "status": launch.status, "twitter": None, "website": None,
            "launchSignature": str(_keypair(launch.mint).sign_message(b"launch")) if live else None, "accountKeys": [launch.mint],
            "numRequiredSigners": 1, "uri": None,
            "dbcPoolKey": launch.pool_key, "dbcConfigKey": launch.config_key,
        }

    def as_dict(self, launch: Launch) -> dict:
        return {"mint": launch.mint, "symbol": launch.symbol, "status": launch.status,
                "threshold_lamports": launch.threshold_lamports, "filled_lamports": self.filled(launch),
                "progress_pct": str(self.progress_pct(launch)), "price": str(self.market.price(launch.mint))}
