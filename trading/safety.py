"""The token safety card: what a glance at a token should tell a trader before a buy.

Read from the chain and the providers: name and symbol (the Metaplex metadata account, or Token-2022's TokenMetadata
extension), price in SOL and USD with the source's liquidity, market cap, the top ten holders' share of the supply
(`getTokenLargestAccounts`), the mint and freeze authorities, the Token-2022 extensions that change what a holder holds,
whether a venue will buy the token back (a sell quote), and Jupiter's token warnings (Ultra's `/ultra/v1/shield`) where a
Jupiter key is set.

The independent look-ups run at once on a small thread pool; each answer is kept in Redis for `CACHE_SECONDS`, so a second
paste of the same mint costs one Redis round trip (the price has its own cache in trading/prices.py). A look-up that fails
is shown as unchecked and asked again after `FAILED_SECONDS` (a provider that is down is not asked on every paste).

No Python library parses Token-2022's extensions (solders and solana-py parse the base mint only), so the few layouts
needed are read here, after spl-token-2022's `ExtensionType` and the mpl-token-metadata `Metadata` Borsh layout.
"""

from __future__ import annotations

import json
import logging
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from solders.pubkey import Pubkey
from solders.token.state import Mint

from jarvis.redis import redis_client
from trading.chain import rpc_client
from trading.chain.rpc import SOL_MINT
from trading.execution.clients import venue_auth_alert, venues_in_order
from trading.prices import PricePoint, price_fresh
from trading.venues.base import VenueError, VenueNoRoute
from trading.venues.jupiter import JupiterVenue
from trading.venues.router import route_quote

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
FAILED_SECONDS = 5  # a look-up that failed is not asked again for this long (shown unchecked meanwhile)
FAILED = "failed"
CACHE_PREFIX = "safety:v1:"
LOOKUPS = ("mint", "holders", "sellable", "shield")  # cached in Redis; the price is cached by trading/prices.py
TOP_HOLDERS = 10
CONCENTRATED_PCT = Decimal("60")  # the top ten holding more than this share of the supply is flagged
SELL_PROBE_FRACTION = 10_000  # the sell quote asks for 1/10,000 of the supply
METADATA_PROGRAM = Pubkey.from_string("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = ("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", TOKEN_2022)
MINT_SIZE, ACCOUNT_SIZE = 82, 165
# spl-token-2022 ExtensionType values read here
EXT_TRANSFER_FEE, EXT_DEFAULT_STATE, EXT_NON_TRANSFERABLE = 1, 6, 9
EXT_PERMANENT_DELEGATE, EXT_TRANSFER_HOOK, EXT_TOKEN_METADATA = 12, 14, 19
FROZEN = 2  # AccountState::Frozen

# Critical findings: a buy stops unless the trader accepts them (or the trader's setting refuses them outright)
CRITICAL = ("freeze_authority", "permanent_delegate", "non_transferable", "not_sellable")
SHIELD_CRITICAL = {"HAS_FREEZE_AUTHORITY": "freeze_authority", "HAS_PERMANENT_DELEGATE": "permanent_delegate",
                   "NON_TRANSFERABLE": "non_transferable", "NOT_SELLABLE": "not_sellable"}

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="safety")


@dataclass(frozen=True)
class MintFacts:
    """What the mint account (and its metadata account) says."""

    program: str
    decimals: int
    supply: int
    mint_authority: str | None
    freeze_authority: str | None
    name: str = ""
    symbol: str = ""
    permanent_delegate: str | None = None
    transfer_hook_program: str | None = None
    transfer_fee_bps: int | None = None
    transfer_fee_authority: str | None = None  # who can change the fee (None: fixed)
    non_transferable: bool = False
    default_frozen: bool = False


@dataclass(frozen=True)
class Finding:
    code: str
    sentence: str
    critical: bool


@dataclass(frozen=True)
class TokenSafety:
    mint: str
    facts: MintFacts | None
    price: PricePoint | None
    top10_pct: Decimal | None
    sellable: bool | None  # None: no venue answered either way
    shield: tuple[tuple[str, str, str], ...] | None  # (type, message, severity); None: not asked (no key) or failed
    unchecked: tuple[str, ...] = ()  # look-ups that failed
    findings: tuple[Finding, ...] = field(default=())

    @property
    def critical(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.findings if f.critical))

    @property
    def market_cap_usd(self) -> Decimal | None:
        if self.facts is None or self.price is None or self.price.usd is None:
            return None
        return self.price.usd * Decimal(self.facts.supply) / (Decimal(10) ** self.facts.decimals)


# --- parsing (pure) -------------------------------------------------------------------------------------
def _key(raw: bytes) -> str | None:
    """An OptionalNonZeroPubkey: all zeros is None."""
    return None if raw == bytes(32) else str(Pubkey.from_bytes(raw))


def _borsh_str(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", data, at)
    end = at + 4 + size
    if end > len(data):
        raise ValueError("string runs past the account")
    return data[at + 4:end].decode("utf-8", errors="replace").rstrip("\0").strip(), end


def metaplex_name(data: bytes) -> tuple[str, str]:
    """(name, symbol) of an mpl-token-metadata Metadata account: key(1), update authority(32), mint(32), Data{...}."""
    name, at = _borsh_str(data, 65)
    symbol, _ = _borsh_str(data, at)
    return name, symbol


def mint_parse(program: str, data: bytes) -> MintFacts:
    """The base mint (solders) and, for Token-2022, the extensions in its TLV area (after the account-type byte)."""
    if program not in TOKEN_PROGRAMS or len(data) < MINT_SIZE:
        raise ValueError("not a token mint")
    base = Mint.from_bytes(data[:MINT_SIZE])
    facts = dict(program=program, decimals=base.decimals, supply=base.supply,
                 mint_authority=str(base.mint_authority) if base.mint_authority else None,
                 freeze_authority=str(base.freeze_authority) if base.freeze_authority else None)
    at = ACCOUNT_SIZE + 1
    while program == TOKEN_2022 and at + 4 <= len(data):
        kind, size = struct.unpack_from("<HH", data, at)
        value = data[at + 4:at + 4 + size]
        if kind == 0:
            break
        if kind == EXT_TRANSFER_FEE:  # authority(32) withdraw(32) withheld(8) older{epoch, max, bps} newer{...}
            facts["transfer_fee_authority"] = _key(value[:32])
            facts["transfer_fee_bps"] = struct.unpack_from("<H", value, 106)[0]
        elif kind == EXT_PERMANENT_DELEGATE:
            facts["permanent_delegate"] = _key(value[:32])
        elif kind == EXT_TRANSFER_HOOK:  # authority(32) program(32)
            facts["transfer_hook_program"] = _key(value[32:64])
        elif kind == EXT_NON_TRANSFERABLE:
            facts["non_transferable"] = True
        elif kind == EXT_DEFAULT_STATE:
            facts["default_frozen"] = value[:1] == bytes([FROZEN])
        elif kind == EXT_TOKEN_METADATA:  # update authority(32) mint(32) name symbol uri ...
            facts["name"], end = _borsh_str(value, 64)
            facts["symbol"], _ = _borsh_str(value, end)
        at += 4 + size
    return MintFacts(**facts)


def findings_of(*, facts: MintFacts | None, top10_pct: Decimal | None, sellable: bool | None,
                shield: tuple[tuple[str, str, str], ...] | None) -> tuple[Finding, ...]:
    out: list[Finding] = []
    if facts is not None:
        if facts.freeze_authority:
            out.append(Finding("freeze_authority", "Freeze authority is set: your tokens can be frozen.", True))
        if facts.permanent_delegate:
            out.append(Finding("permanent_delegate",
                               "Permanent delegate is set: someone can move or burn your tokens.", True))
        if facts.non_transferable:
            out.append(Finding("non_transferable", "Non-transferable: the token cannot be moved or sold.", True))
        if facts.default_frozen:
            out.append(Finding("default_frozen", "New token accounts start frozen.", False))
        if facts.transfer_hook_program:
            out.append(Finding("transfer_hook", f"Transfer hook: program {facts.transfer_hook_program} runs on every "
                                                "transfer and can refuse it.", False))
        if facts.transfer_fee_bps:
            can_change = "and can be changed" if facts.transfer_fee_authority else "fixed"
            out.append(Finding("transfer_fee", f"Transfer fee {Decimal(facts.transfer_fee_bps) / 100:g}% on every "
                                               f"transfer, {can_change}.", False))
        if facts.mint_authority:
            out.append(Finding("mint_authority", "Mint authority is set: more tokens can be minted.", False))
    if top10_pct is not None and top10_pct > CONCENTRATED_PCT:
        out.append(Finding("concentrated", f"The top 10 holders own {top10_pct:.0f}% of the supply.", False))
    if sellable is False:
        out.append(Finding("not_sellable", "No venue will buy this token back: it cannot be sold.", True))
    for kind, message, severity in shield or ():
        code = SHIELD_CRITICAL.get(kind)
        if code is not None and severity == "critical" and not any(f.code == code for f in out):
            out.append(Finding(code, f"Jupiter: {message}", True))
    return tuple(out)


# --- look-ups -------------------------------------------------------------------------------------------
def metadata_address(mint: str) -> str:
    return str(Pubkey.find_program_address([b"metadata", bytes(METADATA_PROGRAM), bytes(Pubkey.from_string(mint))],
                                           METADATA_PROGRAM)[0])


def _lookup_mint(mint: str) -> MintFacts | None:
    found = rpc_client().accounts([mint, metadata_address(mint)])
    if found[0] is None:
        return None
    facts = mint_parse(*found[0])
    if found[1] is not None and found[1][0] == str(METADATA_PROGRAM) and not facts.name:
        name, symbol = metaplex_name(found[1][1])
        facts = MintFacts(**{**asdict(facts), "name": name, "symbol": symbol})
    return facts


def _lookup_holders(mint: str) -> list[int]:
    return rpc_client().token_largest_accounts(mint)


def _lookup_sellable(mint: str, facts: MintFacts | None) -> bool | None:
    """A sell quote through the venues for 1/10,000 of the supply: no route at every venue means it cannot be sold."""
    if facts is None or facts.supply < SELL_PROBE_FRACTION:
        return None
    try:
        route_quote(venues=venues_in_order(), input_mint=mint, output_mint=SOL_MINT,
                    amount=facts.supply // SELL_PROBE_FRACTION, slippage_bps=500, on_auth_failure=venue_auth_alert)
    except VenueNoRoute:
        return False
    except VenueError:
        return None
    return True


def _lookup_shield(mint: str) -> list[list[str]] | None:
    if not settings.JUPITER_API_KEY:
        return None
    jupiter = next(v for v in venues_in_order() if isinstance(v, JupiterVenue))
    return [list(w) for w in jupiter.shield(mints=[mint]).get(mint, [])]


def _encode(name: str, value) -> str:
    if name == "mint":
        return json.dumps(None if value is None else asdict(value))
    return json.dumps(value)


def _decode(name: str, raw: bytes):
    value = json.loads(raw)
    if name == "mint":
        return None if value is None else MintFacts(**value)
    if name == "shield" and value is not None:
        return [tuple(w) for w in value]
    return value


def mint_facts_cached(*, mint: str) -> MintFacts | None:
    """The card's mint facts if a card of `mint` was shown within CACHE_SECONDS (one Redis read, never a provider)."""
    raw = redis_client().get(f"{CACHE_PREFIX}mint:{mint}")
    return None if raw is None or raw == FAILED.encode() else _decode("mint", raw)


class _Done:
    """A look-up run in the calling thread, answered like a future."""

    def __init__(self, fn, mint: str):
        try:
            self._value, self._error = fn(mint=mint), None
        except Exception as exc:
            self._value, self._error = None, exc

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


def _answer(job, name: str, mint: str, unchecked: list[str]):
    try:
        return job.result()
    except Exception as exc:  # any provider failure leaves that line unchecked; the card still shows
        logger.warning("token safety look-up %s failed for %s: %s", name, mint, type(exc).__name__)
        unchecked.append(name)
        return None


def token_safety(*, mint: str) -> TokenSafety:
    """The safety card of `mint` (a valid address): cached answers from Redis, the rest looked up at once (the sell
    quote waits for the mint's supply, alongside the other look-ups)."""
    redis = redis_client()
    keys = [f"{CACHE_PREFIX}{name}:{mint}" for name in LOOKUPS]
    raws = dict(zip(LOOKUPS, redis.mget(keys)))
    unchecked: list[str] = [name for name, raw in raws.items() if raw == FAILED.encode()]
    answers = {name: _decode(name, raw) for name, raw in raws.items() if raw is not None and name not in unchecked}
    cached = set(answers) | set(unchecked)
    lookups = {"mint": _lookup_mint, "holders": _lookup_holders, "shield": _lookup_shield}
    jobs = {name: _pool.submit(fn, mint) for name, fn in lookups.items() if name not in cached}
    # with every other answer cached, the price (usually cached too) is read here rather than handed to a thread
    price_job = _pool.submit(price_fresh, mint=mint) if jobs or "sellable" not in cached else _Done(price_fresh, mint)
    if "mint" in jobs:
        answers["mint"] = _answer(jobs.pop("mint"), "mint", mint, unchecked)
    if "sellable" not in cached:
        jobs["sellable"] = _pool.submit(_lookup_sellable, mint, answers.get("mint"))
    for name, job in jobs.items():
        answers[name] = _answer(job, name, mint, unchecked)
    price = _answer(price_job, "price", mint, unchecked)
    asked = [name for name in LOOKUPS if name not in cached]
    if asked:
        pipe = redis.pipeline(transaction=False)
        for name in asked:
            key = f"{CACHE_PREFIX}{name}:{mint}"
            if name in unchecked or (name == "sellable" and answers[name] is None):  # asked again soon
                pipe.set(key, FAILED, ex=FAILED_SECONDS)
            else:
                pipe.set(key, _encode(name, answers[name]), ex=CACHE_SECONDS)
        pipe.execute()
    facts, holders = answers.get("mint"), answers.get("holders")
    top10 = None
    if facts is not None and holders is not None and facts.supply > 0:
        top10 = Decimal(sum(holders[:TOP_HOLDERS]) * 100) / Decimal(facts.supply)
    shield = answers.get("shield")
    shield = tuple(tuple(w) for w in shield) if shield is not None else None
    sellable = answers.get("sellable")
    return TokenSafety(
        mint=mint, facts=facts, price=price, top10_pct=top10, sellable=sellable, shield=shield,
        unchecked=tuple(unchecked), findings=findings_of(facts=facts, top10_pct=top10, sellable=sellable, shield=shield),
    )


def safety_decision(*, safety: TokenSafety, policy: str, accepted: tuple[str, ...] = ()) -> tuple[tuple, tuple]:
    """(refused, to_accept): the critical findings the trader's policy refuses outright, and those still waiting for
    the trader's explicit acceptance. Policies: "confirm" (ask about every one), "freeze" (refuse a freeze authority, ask
    about the rest), "refuse" (refuse every one)."""
    critical = safety.critical
    if policy == "refuse":
        refused = critical
    elif policy == "freeze":
        refused = tuple(c for c in critical if c == "freeze_authority")
    else:
        refused = ()
    to_accept = tuple(c for c in critical if c not in refused and c not in accepted)
    return refused, to_accept
