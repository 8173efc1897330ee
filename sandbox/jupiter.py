"""The Jupiter stand-in: Swap API V2 (`/swap/v2/order` quotes, `/swap/v2/build` instructions), Price v3 and Ultra's
token warnings (`/ultra/v1/shield`).

Shapes from Jupiter's OpenAPI files (jup-ag/docs): openapi-spec/swap/v2/swap.yaml, openapi-spec/price/v3/price.yaml and
openapi-spec/ultra/ultra.yaml (Shield: `{warnings: {<mint>: [{type, message, severity}]}}`, severity info, warning or
critical). The warnings are read from the sandbox chain (the mint account) and the market (a token the pools will not
buy back), as Jupiter reads them from mainnet.
The sandbox serves `/order` as a quote only (no `taker`): a transaction for `/execute` is Jupiter's managed landing, which
the desk does not use, so `/order` with a `taker` and `/execute` are refused (400) rather than imitated loosely.
"""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal

from solders.compute_budget import set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from sandbox.holders import token_largest_accounts, token_supply
from sandbox.httpserver import Request
from sandbox.simulator import SOL_MINT
from sandbox.venues import PRIORITY_LEVELS, Venue, VenueError

MAX_PRICE_IDS = 50
BUILD_COMPUTE_UNIT_LIMIT = 400_000  # what the priority-fee percentiles below are computed against
DEFAULT_SLIPPAGE_BPS = 50  # /build's documented default
# Price v3's createdAt: "fixed date for legacy tokens like SOL/USDC that predate the API"; sandbox tokens use it too.
LEGACY_CREATED_AT = "2024-06-05T08:55:25.527Z"


def instruction_json(ix: Instruction) -> dict:
    """The spec's Instruction: {programId, accounts: [{pubkey, isWritable, isSigner}], data: base64}."""
    return {
        "programId": str(ix.program_id),
        "accounts": [{"pubkey": str(m.pubkey), "isWritable": m.is_writable, "isSigner": m.is_signer} for m in ix.accounts],
        "data": base64.b64encode(bytes(ix.data)).decode(),
    }


class JupiterApp(Venue):
    service = "jupiter"
    label = "Sandbox Jupiter AMM"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.routes = {
            ("GET", "/swap/v2/order"): self.order,
            ("GET", "/swap/v2/build"): self.build,
            ("GET", "/price/v3"): self.price_v3,
            ("GET", "/ultra/v1/shield"): self.shield,
        }

    def _pair(self, q, *, slippage_default: int | None):
        for name in ("inputMint", "outputMint", "amount"):
            if not q.get(name):
                raise VenueError(400, f"{name} is required", "INVALID_REQUEST")
        if q.get("swapMode", "ExactIn") != "ExactIn":
            raise VenueError(400, "Only swapMode=ExactIn is supported", "INVALID_REQUEST")
        amount = self.int_param(q["amount"], "amount", minimum=1)
        slippage = self.int_param(q.get("slippageBps", slippage_default), "slippageBps", maximum=10_000)
        quote = self.quote(input_mint=q["inputMint"], output_mint=q["outputMint"], amount=amount)
        return quote, slippage

    def _route_plan(self, q, quote) -> list[dict]:
        return [{
            "swapInfo": {"ammKey": str(self.pools.pool(quote.mint).authority.pubkey()), "label": self.label,
                         "inputMint": q["inputMint"], "outputMint": q["outputMint"],
                         "inAmount": str(quote.in_amount), "outAmount": str(quote.out_amount)},
            "percent": 100,
            "bps": 10_000,
        }]

    def order(self, request: Request) -> dict:
        """GET /order without a taker: a quote and `transaction: null`."""
        started = time.perf_counter()
        q = request.query
        if q.get("taker"):
            raise VenueError(400, "the sandbox serves /order quotes only (no taker): build with /build", "INVALID_REQUEST")
        quote, slippage = self._pair(q, slippage_default=DEFAULT_SLIPPAGE_BPS)
        impact = self.impact_pct(quote)
        return {
            "mode": "manual",
            "inputMint": q["inputMint"],
            "outputMint": q["outputMint"],
            "inAmount": str(quote.in_amount),
            "outAmount": str(quote.out_amount),
            "otherAmountThreshold": str(quote.min_out(slippage)),
            "swapMode": "ExactIn",
            "slippageBps": slippage,
            "priceImpact": float(Decimal(impact) * 100),  # percentage points
            "priceImpactPct": impact,  # deprecated in V2, still sent
            "routePlan": self._route_plan(q, quote),
            "feeBps": 0,
            "platformFee": {"amount": "0", "feeBps": 0},
            "router": "metis",
            "transaction": None,
            "requestId": uuid.uuid4().hex,
            "totalTime": round((time.perf_counter() - started) * 1000, 3),
            "taker": None,
        }

    def build(self, request: Request) -> dict:
        """GET /build: the quote and its raw instructions, a blockhash and its lastValidBlockHeight."""
        q = request.query
        try:
            owner = Pubkey.from_string(str(q.get("taker")))
        except ValueError:
            raise VenueError(400, "taker must be a valid public key", "INVALID_REQUEST") from None
        quote, slippage = self._pair(q, slippage_default=DEFAULT_SLIPPAGE_BPS)
        min_out = quote.min_out(slippage)
        fail = self.faults.take(self.service, "fail_simulation")
        legs, payout = self.pools.build_instructions(
            venue=self.service, quote=quote, min_out=min_out, owner=owner, request_id=uuid.uuid4().hex,
            fail_reason="fault injection: fails simulation" if fail else "")
        blockhash, last_valid = self.pools.chain.latest_blockhash()
        now = time.time()
        return {
            "inputMint": q["inputMint"],
            "outputMint": q["outputMint"],
            "inAmount": str(quote.in_amount),
            "outAmount": str(quote.out_amount),
            "otherAmountThreshold": str(min_out),
            "swapMode": "ExactIn",
            "slippageBps": slippage,
            "priceImpactPct": self.impact_pct(quote),
            "routePlan": self._route_plan(q, quote),
            "computeBudgetInstructions": [instruction_json(set_compute_unit_price(self.unit_price(q)))],
            "setupInstructions": [instruction_json(ix) for ix in legs],
            "swapInstruction": instruction_json(payout),
            "cleanupInstruction": None,
            "otherInstructions": [],
            "tipInstruction": None,
            "addressesByLookupTableAddress": None,
            "blockhashWithMetadata": {
                "blockhash": list(bytes(Hash.from_string(blockhash))),
                "lastValidBlockHeight": last_valid,
                "fetchedAt": {"secs_since_epoch": int(now), "nanos_since_epoch": int((now % 1) * 1e9)},
            },
        }

    def unit_price(self, q) -> int:
        """computeUnitPricePercentile: a named level ("medium", "high", "veryHigh") or 0..10000 bps; micro-lamports a CU."""
        level = q.get("computeUnitPricePercentile")
        if level is None:
            lamports = PRIORITY_LEVELS["medium"]
        elif level in PRIORITY_LEVELS:
            lamports = PRIORITY_LEVELS[level]
        else:
            bps = self.int_param(level, "computeUnitPricePercentile", maximum=10_000)
            lamports = PRIORITY_LEVELS["veryHigh"] * bps // 10_000
        return lamports * 1_000_000 // BUILD_COMPUTE_UNIT_LIMIT

    def price_v3(self, request: Request) -> dict:
        ids = [i for i in (request.query.get("ids") or "").split(",") if i]
        if not ids:
            raise VenueError(400, "ids is required", "INVALID_REQUEST")
        if len(ids) > MAX_PRICE_IDS:
            raise VenueError(400, f"at most {MAX_PRICE_IDS} ids per request", "INVALID_REQUEST")
        market = self.pools.market
        block = self.pools.chain.block_height()
        out = {}
        # JSON numbers on the wire, as Jupiter sends them; clients parse them back into Decimal
        for mint in ids:
            if mint == SOL_MINT:
                out[mint] = {"createdAt": LEGACY_CREATED_AT, "liquidity": 621679197.67, "usdPrice": float(market.sol_usd),
                             "blockId": block, "decimals": 9, "priceChange24h": 0.0}
            elif market.has(mint):
                token = market.token(mint)
                change = (token.price / token.open_price - 1) * 100
                liquidity = Decimal(token.liquidity_lamports) / 10**9 * market.sol_usd * 2
                out[mint] = {"createdAt": LEGACY_CREATED_AT, "liquidity": float(round(liquidity, 2)),
                             "usdPrice": float(market.usd_price(mint)), "blockId": block, "decimals": token.decimals,
                             "priceChange24h": float(round(change, 6))}
        return out

    def shield(self, request: Request) -> dict:
        """GET /ultra/v1/shield?mints=a,b: the warnings Jupiter would give about each known mint."""
        mints = [m for m in (request.query.get("mints") or "").split(",") if m]
        if not mints:
            raise VenueError(400, "mints is required", "INVALID_REQUEST")
        if len(mints) > MAX_PRICE_IDS:
            raise VenueError(400, f"at most {MAX_PRICE_IDS} mints per request", "INVALID_REQUEST")
        market = self.pools.market
        return {"warnings": {mint: self._warnings(market.token(mint)) for mint in mints if market.has(mint)}}

    def _warnings(self, token) -> list[dict]:
        def warn(kind: str, message: str, severity: str) -> dict:
            return {"type": kind, "message": message, "severity": severity}

        out = [warn("NOT_VERIFIED", "This token is not verified, make sure the mint address is correct before trading",
                    "info")]
        if not token.sellable:
            out.append(warn("NOT_SELLABLE", "This token cannot be sold at the moment", "critical"))
        if token.freeze_authority:
            out.append(warn("HAS_FREEZE_AUTHORITY", "The authority's owner has the ability to freeze your token account",
                            "critical"))
        if token.permanent_delegate:
            out.append(warn("HAS_PERMANENT_DELEGATE",
                            "The permanent delegate can transfer or burn any tokens from any account", "critical"))
        if token.transfer_fee_bps:
            pct = f"{Decimal(token.transfer_fee_bps) / 100:g}"
            out.append(warn(f"{pct}%_TRANSFER_FEES", f"This token has a {pct}% transfer fee", "warning"))
        if token.transfer_fee_mutable:
            out.append(warn("MUTABLE_TRANSFER_FEES", "The transfer fee of this token can be changed", "warning"))
        largest = token_largest_accounts(self.pools.chain, Pubkey.from_string(token.mint))
        supply = int(token_supply(self.pools.chain, Pubkey.from_string(token.mint))["amount"])
        top = sum(int(row["amount"]) for row in largest[:10])
        if supply and top * 100 > 80 * supply:
            out.append(warn("HIGH_SUPPLY_CONCENTRATION", "The top 10 holders own a large share of the supply", "warning"))
        return out
