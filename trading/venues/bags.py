"""bags.fm trade API client: GET /trade/quote, POST /trade/swap (base58 transaction), GET
/token-launch/top-tokens/lifetime-fees, GET /token-launch/feed (launches and their launch states), `{success,
response}` / `{success: false, error}` envelope, `x-api-key`. Its rate-limit headers
(X-RateLimit-Limit/-Remaining/-Reset) are read by every HttpVenue (`trading.ratelimit.limit_observe`).

Shapes from the bags.fm SDK (bagsfm/bags-sdk): src/types/trade.ts, src/types/api.ts, src/api/bags-client.ts; the contract
tests hold this client and the sandbox's stand-in to them (tests/contracts/schemas/bags.json)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal

import base58

from trading.chain.compute_budget import compute_unit_limit_of, compute_unit_price_of, with_compute_unit_price
from trading.ratelimit import Priority, call_priority
from trading.venues.base import (
    FeePolicy,
    HttpVenue,
    Quote,
    SwapTransaction,
    VenueMalformedAnswer,
    classify_http_error,
    parse_fraction,
    response_json,
)

log = logging.getLogger(__name__)

NAME = "bags"
LAMPORTS_PER_SOL = 1_000_000_000
QUOTE_PATH = "/trade/quote"


def envelope_unwrap(*, status: int, payload, expect: type = dict, no_route: bool = False) -> dict | list:
    """The ``response`` of a `{success, response}` envelope, or the classified error of a failed one.

    bags.fm's shapes (bags-sdk src/types/api.ts ``BagsApiResponse``: ``{success: true, response}`` or ``{success: false,
    error: string}``; src/api/bags-client.ts: an error answer may instead carry ``{message}``, and the SDK then falls back
    to the HTTP status). The wording of bags.fm's errors is not documented, so a refusal is classified by the HTTP status
    and by the endpoint alone: ``no_route`` says a 4xx refusal of this call means "bags.fm cannot route this trade"
    (another venue may), as for a quote; elsewhere a 4xx is a permanent refusal of our request."""
    if not isinstance(payload, dict) or "success" not in payload:
        if status >= 400:
            detail = payload.get("message") if isinstance(payload, dict) and isinstance(payload.get("message"), str) else ""
            raise classify_http_error(venue=NAME, status=status, detail=detail, no_route=no_route)
        raise VenueMalformedAnswer("bags.fm answered without its success envelope", venue=NAME, status=status)
    if payload["success"] is True and status < 400:
        response = payload.get("response")
        if not isinstance(response, expect):
            raise VenueMalformedAnswer("bags.fm answered success without a response of the documented type", venue=NAME,
                                       status=status)
        return response
    if payload["success"] is not False or not isinstance(payload.get("error"), str):
        raise VenueMalformedAnswer("bags.fm answered an error without the documented {success: false, error}", venue=NAME,
                                   status=status)
    if status < 400:
        status = 400  # success: false with HTTP 200: a refusal of this request (the SDK throws it as an ApiError too)
    raise classify_http_error(venue=NAME, status=status, detail=payload["error"], no_route=no_route)


@dataclass(frozen=True)
class TopToken:
    """One row of bags.fm's top tokens (by lifetime fees); price and change only where the answer carries them."""

    mint: str
    symbol: str
    name: str
    lifetime_fees_lamports: int
    price_sol: Decimal | None
    price_change_pct: Decimal | None  # a percent (Jupiter token stats: -8.27 = -8.27%)


def _number_or_none(value) -> Decimal | None:
    """A JSON number as a Decimal; anything else (a string, null, a boolean, NaN) is no data."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = Decimal(str(value))
    return number if number.is_finite() else None


def top_token_from(row) -> TopToken | None:
    """A TopToken from one ``BagsTokenLeaderBoardItem`` (bags-sdk src/types/api.ts): ``{token, lifetimeFees: string,
    tokenInfo: JupiterToken | null, creators, tokenSupply: TokenAmount | null, tokenLatestPrice: TokenLatestPrice |
    null}``, with ``TokenLatestPrice {price, priceUSD, priceSOL, volumeUSD, volumeSOL, tokenAddress, blockTime}`` and
    the 24 h change in ``tokenInfo.stats24h.priceChange`` (a percent). A row that does not have that shape is logged
    and skipped (None); a missing or non-positive price is "no price", never zero."""
    if not isinstance(row, dict) or not isinstance(row.get("token"), str) or not isinstance(row.get("lifetimeFees"), str):
        log.warning("bags.fm top-tokens row without the documented token/lifetimeFees; skipped")
        return None
    fees = row["lifetimeFees"]
    info = row.get("tokenInfo") if isinstance(row.get("tokenInfo"), dict) else {}
    latest = row.get("tokenLatestPrice") if isinstance(row.get("tokenLatestPrice"), dict) else {}
    price = _number_or_none(latest.get("priceSOL"))
    stats = info.get("stats24h") if isinstance(info.get("stats24h"), dict) else {}
    return TopToken(mint=row["token"], symbol=str(info.get("symbol") or "")[:16], name=str(info.get("name") or "")[:64],
                    lifetime_fees_lamports=int(fees) if fees.isascii() and fees.isdigit() else 0,
                    price_sol=price if price is not None and price > 0 else None,
                    price_change_pct=_number_or_none(stats.get("priceChange")))


LAUNCH_STATES = ("PRE_LAUNCH", "PRE_GRAD", "MIGRATING", "MIGRATED")  # bags-sdk src/types/token-launch.ts


@dataclass(frozen=True)
class LaunchRow:
    """One launch of bags.fm's launch feed and its launch status (``TokenLaunchStatus``)."""

    mint: str
    status: str
    symbol: str
    name: str
    dbc_pool_key: str | None = None  # the curve's VirtualPool account (Meteora DBC), where its fill is read
    dbc_config_key: str | None = None  # its PoolConfig account (the migration threshold)


def _key_or_none(value) -> str | None:
    return value if isinstance(value, str) and 32 <= len(value) <= 44 else None


def launch_row_from(row) -> LaunchRow | None:
    """A LaunchRow from one row of ``GET /token-launch/feed`` (bags.fm API reference, "Get Token Launch Feed": ``{name,
    symbol, description, image, tokenMint, status, twitter, website, launchSignature, accountKeys, numRequiredSigners,
    uri, dbcPoolKey, dbcConfigKey}``, ``status`` one of the SDK's ``TokenLaunchStatus`` values). A row without a mint or
    with a status the SDK does not name is logged and skipped (None)."""
    if not isinstance(row, dict) or not isinstance(row.get("tokenMint"), str) or row.get("status") not in LAUNCH_STATES:
        log.warning("bags.fm launch feed row without the documented tokenMint/status; skipped")
        return None
    return LaunchRow(mint=row["tokenMint"], status=row["status"], symbol=str(row.get("symbol") or "")[:16],
                     name=str(row.get("name") or "")[:64], dbc_pool_key=_key_or_none(row.get("dbcPoolKey")),
                     dbc_config_key=_key_or_none(row.get("dbcConfigKey")))


class BagsVenue(HttpVenue):
    name = NAME

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self._request(method, path, **kwargs)
        return envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME),
                               no_route=path == QUOTE_PATH)

    # --- bundles (bags-sdk src/services/solana.ts, src/types/solana.ts) ----------------------------------
    def jito_recent_fees(self) -> dict[int, int]:
        """GET /solana/jito-recent-fees: Jito's landed tips by percentile (25, 50, 75, 95, 99), in lamports. The
        JitoTipResponse numbers are SOL, as Jito's tip floor reports them."""
        raw = self._call("GET", "/solana/jito-recent-fees")
        out = {}
        for pct in (25, 50, 75, 95, 99):
            value = _number_or_none(raw.get(f"landed_tips_{pct}th_percentile"))
            if value is None or value < 0:
                raise VenueMalformedAnswer(f"bags.fm answered a malformed landed_tips_{pct}th_percentile", venue=NAME)
            out[pct] = int(value * LAMPORTS_PER_SOL)
        return out

    def send_bundle(self, transactions: list[bytes], *, region: str = "mainnet") -> str:
        """POST /solana/send-bundle {transactions: base58[], region}: the bundle id bags.fm answers."""
        response = self._request("POST", "/solana/send-bundle",
                                 json={"transactions": [base58.b58encode(raw).decode() for raw in transactions], "region": region})
        return envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME), expect=str)

    def bundle_statuses(self, bundle_ids: list[str], *, region: str = "mainnet") -> dict[str, str]:
        """POST /solana/get-bundle-statuses: the confirmation status of each landed bundle ("confirmed",
        "finalized"; a bundle bags.fm does not report is absent), from BundleStatusesResponse."""
        raw = self._call("POST", "/solana/get-bundle-statuses", json={"bundleIds": bundle_ids, "region": region})
        rows = raw.get("value")
        if not isinstance(rows, list):
            raise VenueMalformedAnswer("bags.fm answered bundle statuses without a value list", venue=NAME)
        return {row["bundle_id"]: str(row.get("confirmation_status")) for row in rows
                if isinstance(row, dict) and isinstance(row.get("bundle_id"), str)}

    def top_tokens(self) -> list[TopToken]:
        """GET /token-launch/top-tokens/lifetime-fees: bags.fm's top tokens, in the order bags.fm ranks them."""
        response = self._request("GET", "/token-launch/top-tokens/lifetime-fees")
        rows = envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME), expect=list)
        return [token for token in map(top_token_from, rows) if token is not None]

    def launch_feed(self) -> list[LaunchRow]:
        """GET /token-launch/feed: recent and active launches with their launch status. Polling it is not essential
        (a preview-class call on the shared rate limiter: below exits and entries, refused when the budget is spent)."""
        with call_priority(Priority.PREVIEW):
            response = self._request("GET", "/token-launch/feed")
        rows = envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME), expect=list)
        return [launch for launch in map(launch_row_from, rows) if launch is not None]

    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageMode": "manual",
            "slippageBps": str(slippage_bps),
        }
        # TradeQuoteResponse (bags-sdk src/types/trade.ts): amounts are strings, priceImpactPct a fraction in a string
        raw = self._call("GET", QUOTE_PATH, params=params)
        impact = parse_fraction(raw.get("priceImpactPct"), venue=NAME, name="priceImpactPct")
        return self._quote(raw, input_mint=input_mint, output_mint=output_mint, min_out_key="minOutAmount", impact=impact)

    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction:
        """The documented request is {quoteResponse, userPublicKey}: bags.fm puts a priority fee of its own choosing in
        the transaction's SetComputeUnitPrice. The desk sets its own price there (capped by the order's cap over
        the answer's computeUnitLimit) before signing; a transaction another signer already signed keeps bags.fm's."""
        raw = self._call("POST", "/trade/swap", json={"quoteResponse": quote.raw, "userPublicKey": user_public_key})
        swap = self._swap(raw, decode=base58.b58decode)
        limit = swap.compute_unit_limit or compute_unit_limit_of(swap.transaction) or 0
        if not limit:
            return swap
        price = fee.unit_price_within(limit, venue_price=compute_unit_price_of(swap.transaction) or 0)
        try:
            priced = with_compute_unit_price(swap.transaction, price)
        except ValueError:
            raise VenueMalformedAnswer("bags.fm answered a swap transaction that cannot be read", venue=NAME) from None
        if priced is None:
            log.info("bags.fm swap keeps its own priority fee (signed by another party, or no price instruction)")
            return swap
        return replace(swap, transaction=priced, prioritization_fee_lamports=price * limit // 1_000_000)
