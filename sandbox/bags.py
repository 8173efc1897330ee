"""The bags.fm trade API stand-in: `{success, response}` envelopes, `x-api-key`, rate-limit headers, base58 swaps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import base58
from solders.pubkey import Pubkey

from sandbox.chain import ChainError
from sandbox.faults import Faults
from sandbox.httpserver import Request, Response
from sandbox.launches import Launches
from sandbox.pools import Pools, pool_supply
from sandbox.venues import Venue, VenueError

PREFIX = "/api/v1"
# Jito's tip accounts (public addresses): a bundle must tip one of them by a SystemProgram transfer.
JITO_TIP_ACCOUNTS = (
    "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5", "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
    "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY", "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
    "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh", "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
    "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL", "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
)
JITO_REGIONS = ("mainnet", "amsterdam", "frankfurt", "ny", "tokyo", "slc", "london", "singapore")
# Landed-tip percentiles in SOL, as Jito's tip floor reports them (bags-sdk src/types/solana.ts JitoTipResponse).
JITO_RECENT_TIPS = {"landed_tips_25th_percentile": 0.000001, "landed_tips_50th_percentile": 0.00001,
                    "landed_tips_75th_percentile": 0.00005, "landed_tips_95th_percentile": 0.0005,
                    "landed_tips_99th_percentile": 0.002, "ema_landed_tips_50th_percentile": 0.000012}
AUTO_SLIPPAGE_BPS = 100
RATE_WINDOW_SECONDS = 3600


class BagsApp(Venue):
    service = "bags"
    label = "Sandbox Bags AMM"
    # bags.fm does not document its "no route" text (docs, bags-sdk): a wording that matches no other venue's, so a
    # client can only classify it by the HTTP status and the {success: false, error} shape.
    no_route_message = "Unable to get a quote for this token pair"

    def __init__(self, *, pools: Pools, faults: Faults, api_key: str, rate_limit: int | None = 1000,
                 rate_window: float = RATE_WINDOW_SECONDS, launches: Launches | None = None):
        super().__init__(pools=pools, faults=faults, api_key=api_key, rate_limit=rate_limit, rate_window=rate_window)
        self.launches = launches
        self.routes = {
            ("GET", f"{PREFIX}/trade/quote"): self.trade_quote,
            ("POST", f"{PREFIX}/trade/swap"): self.trade_swap,
            ("GET", f"{PREFIX}/token-launch/top-tokens/lifetime-fees"): self.top_tokens,
            ("POST", f"{PREFIX}/solana/send-bundle"): self.send_bundle,
            ("POST", f"{PREFIX}/solana/get-bundle-statuses"): self.bundle_statuses,
            ("GET", f"{PREFIX}/solana/jito-recent-fees"): self.jito_recent_fees,
            ("GET", f"{PREFIX}/token-launch/feed"): self.launch_feed,
        }
        self.tip_accounts = {Pubkey.from_string(key) for key in JITO_TIP_ACCOUNTS}
        for account in self.tip_accounts:  # they exist on mainnet, so a tip of any size can land
            pools.chain.set_lamports(account, 10**9)

    def error_response(self, error: VenueError) -> Response:
        return Response.json({"success": False, "error": error.message}, status=error.status)

    def respond(self, route, request: Request) -> Response:
        return Response.json({"success": True, "response": self.malformed(route(request))})

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
        body = {
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
                "data": "",
            }],
            "platformFee": {"amount": str(quote.fee_amount), "feeAccount": str(self.pools.pool(quote.mint).authority.pubkey()),
                            "feeBps": self.pools.fee_bps, "segmenterFeeAmount": "0", "segmenterFeePct": 0},
            "simulatedComputeUnits": 60_000,
        }
        if quote.transfer_fee and quote.side == "buy":
            body["outTransferFee"] = str(quote.transfer_fee)  # optional in TradeQuoteResponse: absent, never null
        return body

    def trade_swap(self, request: Request) -> dict:
        raw, last_valid, fee = self.swap_from_request(request)
        return {
            "swapTransaction": base58.b58encode(raw).decode(),
            "computeUnitLimit": 120_000,
            "lastValidBlockHeight": last_valid,
            "prioritizationFeeLamports": fee,
        }

    # --- bundles (bags-sdk src/services/solana.ts) -----------------------------------------------------
    @staticmethod
    def _region(body: dict) -> None:
        if body.get("region", "mainnet") not in JITO_REGIONS:
            raise VenueError(400, f"region must be one of {', '.join(JITO_REGIONS)}", "INVALID_REQUEST")

    def send_bundle(self, request: Request) -> str:
        """POST /solana/send-bundle {transactions: base58[], region}: the bundle id. The bundle lands whole or not at
        all (sandbox.chain.Chain.send_bundle); like Jito, the id is answered either way, and a bundle that lands
        nothing simply never shows in the statuses."""
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("transactions"), list) or not body["transactions"]:
            raise VenueError(400, "transactions is required", "INVALID_REQUEST")
        self._region(body)
        try:
            raws = [base58.b58decode(str(tx)) for tx in body["transactions"]]
        except ValueError:
            raise VenueError(400, "transactions must be base58", "INVALID_REQUEST") from None
        try:
            bundle_id, _ = self.pools.chain.send_bundle(raws, tip_accounts=self.tip_accounts)
        except ChainError as exc:
            raise VenueError(400, exc.message, "INVALID_BUNDLE") from None
        return bundle_id

    def bundle_statuses(self, request: Request) -> dict:
        """POST /solana/get-bundle-statuses {bundleIds, region}: BundleStatusesResponse, null for a bundle not landed."""
        body = request.json()
        ids = body.get("bundleIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise VenueError(400, "bundleIds is required", "INVALID_REQUEST")
        self._region(body)
        chain = self.pools.chain
        value = []
        for bundle_id in ids:
            landed = chain.bundles.get(str(bundle_id))
            value.append(None if landed is None else {
                "bundle_id": bundle_id, "transactions": landed[0], "slot": landed[1],
                "confirmation_status": "confirmed", "err": {"Ok": None}})
        return {"context": {"slot": chain.block_height()}, "value": value}

    def jito_recent_fees(self, request: Request) -> dict:
        """GET /solana/jito-recent-fees: JitoTipResponse (landed-tip percentiles, in SOL)."""
        return {"time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **JITO_RECENT_TIPS}
    def launch_feed(self, request: Request) -> list[dict]:
        """Recent and active launches with their launch status (sandbox/launches.py: the bonding curves)."""
        return self.launches.feed() if self.launches is not None else []

    def top_tokens(self, request: Request) -> list[dict]:
        """Top tokens by lifetime fees (fees ~ the token's liquidity), in the row shape of the SDK's
        ``BagsTokenLeaderBoardItem`` (bags-sdk src/types/api.ts): ``tokenInfo`` a ``JupiterToken``, ``tokenSupply`` a
        ``TokenAmount``, ``tokenLatestPrice`` a ``TokenLatestPrice``; JSON numbers where the SDK says ``number``."""
        rows = [self.top_token_row(token) for token in self.pools.market.tokens()]
        rows.sort(key=lambda r: (int(r["lifetimeFees"]), abs(r["tokenInfo"]["stats24h"]["priceChange"])), reverse=True)
        return rows

    def top_token_row(self, token) -> dict:
        market = self.pools.market
        change = float(round((token.price / token.open_price - 1) * 100, 6))
        usd = float(market.usd_price(token.mint))
        supply = pool_supply(token)
        whole = supply / 10**token.decimals
        authority = str(self.pools.pool(token.mint).authority.pubkey())
        liquidity_usd = float(Decimal(token.liquidity_lamports) / 10**9 * market.sol_usd * 2)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "token": token.mint,
            "lifetimeFees": str(token.liquidity_lamports * self.pools.fee_bps // 10_000),
            "tokenInfo": {
                "id": token.mint, "name": token.name, "symbol": token.symbol, "icon": "", "decimals": token.decimals,
                "dev": authority, "circSupply": whole, "totalSupply": whole, "tokenProgram": token.token_program,
                "firstPool": {"id": authority, "createdAt": now}, "holderCount": 1, "audit": {},
                "organicScore": 0, "organicScoreLabel": "low", "tags": [], "fdv": usd * whole, "mcap": usd * whole,
                "usdPrice": usd, "priceBlockId": self.pools.chain.block_height(), "liquidity": liquidity_usd,
                "stats24h": {"priceChange": change}, "updatedAt": now,
            },
            "creators": [],
            "tokenSupply": {"amount": str(supply), "decimals": token.decimals, "uiAmount": whole,
                            "uiAmountString": format(Decimal(supply).scaleb(-token.decimals).normalize(), "f")},
            "tokenLatestPrice": {"price": usd, "priceUSD": usd, "priceSOL": float(token.price), "volumeUSD": 0,
                                 "volumeSOL": 0, "tokenAddress": token.mint, "blockTime": now},
        }
