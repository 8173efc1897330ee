"""The bags.fm trade API stand-in: `{success, response}` envelopes, `x-api-key`, rate-limit headers, base58 swaps."""

from __future__ import annotations

import base58
import uuid
from decimal import Decimal

from sandbox.faults import Faults
from sandbox.httpserver import Request, Response
from sandbox.pools import Pools
from sandbox.simulator import SOL_MINT
from sandbox.venues import Venue, VenueError

PREFIX = "/api/v1"
AUTO_SLIPPAGE_BPS = 100
RATE_WINDOW_SECONDS = 3600


class BagsApp(Venue):
    service = "bags"
    label = "Sandbox Bags AMM"

    def __init__(self, *, pools: Pools, faults: Faults, api_key: str, rate_limit: int | None = 1000,
                 rate_window: float = RATE_WINDOW_SECONDS):
        super().__init__(pools=pools, faults=faults, api_key=api_key, rate_limit=rate_limit, rate_window=rate_window)
        self.routes = {
            ("GET", f"{PREFIX}/trade/quote"): self.trade_quote,
            ("POST", f"{PREFIX}/trade/swap"): self.trade_swap,
            ("GET", f"{PREFIX}/token-launch/top-tokens/lifetime-fees"): self.top_tokens,
        }

    def error_response(self, error: VenueError) -> Response:
        return Response.json({"success": False, "error": error.message}, status=error.status)

    def respond(self, route, request: Request) -> Response:
        return Response.json({"success": True, "response": route(request)})

    # --- endpoints ----------------------------------------------------------------------------------
    def trade_quote(self, request: Request) -> dict:
        q = request.query
        for name in ("inputMint", "outputMint", "amount"):
            if not q.get(name):
                raise VenueError(400, f"{name} is required", "INVALID_REQUEST")
        amount = self.int_param(q["amount"], "amount", minimum=1)
        mode = q.get("slippageMode", "auto")
        if mode not in ("auto", "manual"):
            raise VenueError(400, "slippageMode must be auto or manual", "INVALID_REQUEST")
        if mode == "manual":
            if "slippageBps" not in q:
                raise VenueError(400, "slippageBps is required when slippageMode is manual", "INVALID_REQUEST")
            slippage = self.int_param(q["slippageBps"], "slippageBps", maximum=10_000)
        else:
            slippage = AUTO_SLIPPAGE_BPS
        quote = self.quote(input_mint=q["inputMint"], output_mint=q["outputMint"], amount=amount)
        min_out = quote.min_out(slippage)
        fee_mint = SOL_MINT
        return {
            "requestId": uuid.uuid4().hex,
            "contextSlot": self.pools.chain.block_height(),
            "inAmount": str(quote.in_amount),
            "inputMint": q["inputMint"],
            "outAmount": str(quote.out_amount),
            "outputMint": q["outputMint"],
            "minOutAmount": str(min_out),
            "otherAmountThreshold": str(min_out),
            "priceImpactPct": self.impact_pct(quote),
            "slippageBps": slippage,
            "routePlan": [{
                "venue": self.label,
                "marketKey": str(self.pools.pool(quote.mint).authority.pubkey()),
                "inputMint": q["inputMint"],
                "outputMint": q["outputMint"],
                "inAmount": str(quote.in_amount),
                "outAmount": str(quote.out_amount),
                "inputMintDecimals": self.mint_decimals(self.pools, q["inputMint"]),
                "outputMintDecimals": self.mint_decimals(self.pools, q["outputMint"]),
            }],
            "platformFee": {"amount": str(quote.fee_amount), "feeBps": self.pools.fee_bps, "feeMint": fee_mint,
                            "feeAccount": str(self.pools.pool(quote.mint).authority.pubkey())},
            "outTransferFee": str(quote.transfer_fee) if quote.transfer_fee and quote.side == "buy" else None,
            "simulatedComputeUnits": 60_000,
        }

    def trade_swap(self, request: Request) -> dict:
        raw, last_valid, fee = self.swap_from_request(request)
        return {
            "swapTransaction": base58.b58encode(raw).decode(),
            "computeUnitLimit": 120_000,
            "lastValidBlockHeight": last_valid,
            "prioritizationFeeLamports": fee,
        }

    def top_tokens(self, request: Request) -> list[dict]:
        """Trending tokens, most active first (lifetime fees ~ the token's liquidity times its recent move)."""
        rows = []
        for token in self.pools.market.tokens():
            change = (token.price / token.open_price - 1) * 100
            fees = token.liquidity_lamports * self.pools.fee_bps // 10_000
            rows.append({
                "token": token.mint,
                "lifetimeFees": str(fees),
                "tokenInfo": {"symbol": token.symbol, "name": token.name, "decimals": token.decimals,
                              "tokenProgram": token.token_program},
                "priceSol": str(token.price),
                "priceChangePct": str(change.quantize(Decimal("0.01"))),
            })
        rows.sort(key=lambda r: (int(r["lifetimeFees"]), abs(Decimal(r["priceChangePct"]))), reverse=True)
        return rows
