"""bags.fm trade API client: GET /trade/quote, POST /trade/swap (base58 transaction), `{success, response}` envelope,
`x-api-key`. Its rate-limit headers (X-RateLimit-Limit/-Remaining/-Reset) are read by every HttpVenue
(`trading.ratelimit.limit_observe`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.chain.b58 import b58decode
from trading.venues.base import (
    FeePolicy,
    HttpVenue,
    Quote,
    SwapTransaction,
    VenuePermanentError,
    classify_http_error,
    response_json,
)

NAME = "bags"


def envelope_unwrap(*, status: int, payload, expect: type = dict) -> dict | list:
    """The ``response`` of a `{success, response}` envelope, or the classified error of a failed one."""
    if not isinstance(payload, dict) or "success" not in payload:
        if status >= 400:
            raise classify_http_error(venue=NAME, status=status, detail="")
        raise VenuePermanentError("bags.fm answered without its success envelope", venue=NAME, status=status)
    if payload["success"] is True and status < 400:
        response = payload.get("response")
        if not isinstance(response, expect):
            raise VenuePermanentError("bags.fm answered success without a response", venue=NAME, status=status)
        return response
    detail = str(payload.get("error") or payload.get("message") or "")
    if status < 400:
        status = 400  # success: false with HTTP 200: a refusal of this request
    raise classify_http_error(venue=NAME, status=status, detail=detail)


@dataclass(frozen=True)
class TopToken:
    """One row of bags.fm's top tokens (by lifetime fees); price and change only where the answer carries them."""

    mint: str
    symbol: str
    name: str
    lifetime_fees_lamports: int
    price_sol: Decimal | None
    price_change_pct: Decimal | None


def _decimal_or_none(value) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
    return number if number is not None and number.is_finite() else None


def top_token_from(row: dict) -> TopToken | None:
    """A TopToken from one row of the answer, or None for a row without a mint (skipped, not fatal)."""
    if not isinstance(row, dict) or not isinstance(row.get("token"), str):
        return None
    info = row.get("tokenInfo") if isinstance(row.get("tokenInfo"), dict) else {}
    try:
        fees = int(str(row.get("lifetimeFees") or 0))
    except ValueError:
        fees = 0
    return TopToken(mint=row["token"], symbol=str(info.get("symbol") or "")[:16], name=str(info.get("name") or "")[:64],
                    lifetime_fees_lamports=fees, price_sol=_decimal_or_none(row.get("priceSol")),
                    price_change_pct=_decimal_or_none(row.get("priceChangePct")))


class BagsVenue(HttpVenue):
    name = NAME

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self._request(method, path, **kwargs)
        return envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME))

    def top_tokens(self) -> list[TopToken]:
        """GET /token-launch/top-tokens/lifetime-fees: bags.fm's top tokens, in the order bags.fm ranks them."""
        response = self._request("GET", "/token-launch/top-tokens/lifetime-fees")
        rows = envelope_unwrap(status=response.status_code, payload=response_json(response, venue=NAME), expect=list)
        return [token for token in map(top_token_from, rows) if token is not None]

    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageMode": "manual",
            "slippageBps": str(slippage_bps),
        }
        raw = self._call("GET", "/trade/quote", params=params)
        min_out_key = "minOutAmount" if "minOutAmount" in raw else "otherAmountThreshold"
        return self._quote(raw, input_mint=input_mint, output_mint=output_mint, slippage_bps=slippage_bps, min_out_key=min_out_key)

    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction:
        # The documented request is {quoteResponse, userPublicKey}: bags.fm chooses the priority fee itself.
        raw = self._call("POST", "/trade/swap", json={"quoteResponse": quote.raw, "userPublicKey": user_public_key})
        return self._swap(raw, decode=b58decode)
