"""The Jupiter stand-in: Metis swap v1 (`/swap/v1/quote`, `/swap/v1/swap`, base64 transactions) and `/price/v3`."""

from __future__ import annotations

import base64
import time

from sandbox.httpserver import Request
from sandbox.simulator import SOL_MINT
from sandbox.venues import Venue, VenueError

MAX_PRICE_IDS = 50


class JupiterApp(Venue):
    service = "jupiter"
    label = "Sandbox Jupiter AMM"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.routes = {
            ("GET", "/swap/v1/quote"): self.swap_quote,
            ("POST", "/swap/v1/swap"): self.swap_swap,
            ("GET", "/price/v3"): self.price_v3,
        }

    def swap_quote(self, request: Request) -> dict:
        started = time.perf_counter()
        q = request.query
        for name in ("inputMint", "outputMint", "amount"):
            if not q.get(name):
                raise VenueError(400, f"{name} is required", "INVALID_REQUEST")
        if q.get("swapMode", "ExactIn") != "ExactIn":
            raise VenueError(400, "Only swapMode=ExactIn is supported by the sandbox", "INVALID_REQUEST")
        amount = self.int_param(q["amount"], "amount", minimum=1)
        slippage = self.int_param(q.get("slippageBps", 50), "slippageBps", maximum=10_000)
        quote = self.quote(input_mint=q["inputMint"], output_mint=q["outputMint"], amount=amount)
        min_out = quote.min_out(slippage)
        amm_key = str(self.pools.pool(quote.mint).authority.pubkey())
        return {
            "inputMint": q["inputMint"],
            "inAmount": str(quote.in_amount),
            "outputMint": q["outputMint"],
            "outAmount": str(quote.out_amount),
            "otherAmountThreshold": str(min_out),
            "swapMode": "ExactIn",
            "slippageBps": slippage,
            "platformFee": None,
            "priceImpactPct": self.impact_pct(quote),
            "routePlan": [{
                "swapInfo": {
                    "ammKey": amm_key,
                    "label": self.label,
                    "inputMint": q["inputMint"],
                    "outputMint": q["outputMint"],
                    "inAmount": str(quote.in_amount),
                    "outAmount": str(quote.out_amount),
                    "feeAmount": str(quote.fee_amount),
                    "feeMint": SOL_MINT,
                },
                "percent": 100,
            }],
            "contextSlot": self.pools.chain.block_height(),
            "timeTaken": round(time.perf_counter() - started, 6),
        }

    def swap_swap(self, request: Request) -> dict:
        raw, last_valid, fee = self.swap_from_request(request)
        return {
            "swapTransaction": base64.b64encode(raw).decode(),
            "lastValidBlockHeight": last_valid,
            "prioritizationFeeLamports": fee,
            "computeUnitLimit": 120_000,
            "simulationError": None,
        }

    def price_v3(self, request: Request) -> dict:
        ids = [i for i in (request.query.get("ids") or "").split(",") if i]
        if not ids:
            raise VenueError(400, "ids is required", "INVALID_REQUEST")
        if len(ids) > MAX_PRICE_IDS:
            raise VenueError(400, f"at most {MAX_PRICE_IDS} ids per request", "INVALID_REQUEST")
        market = self.pools.market
        block = self.pools.chain.block_height()
        out = {}
        for mint in ids:
            if mint == SOL_MINT:
                out[mint] = {"usdPrice": float(market.sol_usd), "blockId": block, "decimals": 9, "priceChange24h": 0.0}
            elif market.has(mint):
                token = market.token(mint)
                change = (token.price / token.open_price - 1) * 100
                # JSON numbers on the wire, as Jupiter sends them; clients parse them back into Decimal
                out[mint] = {"usdPrice": float(market.usd_price(mint)), "blockId": block, "decimals": token.decimals,
                             "priceChange24h": float(round(change, 6))}
        return out
