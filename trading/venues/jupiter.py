"""Jupiter Metis swap v1 client: GET /swap/v1/quote, POST /swap/v1/swap (base64 transaction), `x-api-key`."""

from __future__ import annotations

import base64

from trading.venues.base import (
    FeePolicy,
    HttpVenue,
    Quote,
    SwapTransaction,
    VenueNoRoute,
    VenuePermanentError,
    classify_http_error,
    response_json,
)

NAME = "jupiter"


def error_detail(payload) -> str:
    if isinstance(payload, dict):
        return " ".join(str(payload.get(key) or "") for key in ("errorCode", "error", "message")).strip()
    return ""


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


class JupiterVenue(HttpVenue):
    name = NAME

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self._request(method, path, **kwargs)
        payload = response_json(response, venue=NAME)
        if response.status_code >= 400:
            raise classify_http_error(venue=NAME, status=response.status_code, detail=error_detail(payload))
        if not isinstance(payload, dict):
            raise VenuePermanentError("Jupiter answered an unexpected shape", venue=NAME)
        return payload

    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageBps": str(slippage_bps),
            "swapMode": "ExactIn",
            "restrictIntermediateTokens": "true",
        }
        raw = self._call("GET", "/swap/v1/quote", params=params)
        if raw.get("routePlan") == []:
            raise VenueNoRoute("Jupiter has no route for this trade", venue=NAME)
        return self._quote(
            raw, input_mint=input_mint, output_mint=output_mint, slippage_bps=slippage_bps, min_out_key="otherAmountThreshold"
        )

    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction:
        body = {
            "quoteResponse": quote.raw,
            "userPublicKey": user_public_key,
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True,
            "prioritizationFeeLamports": {
                "priorityLevelWithMaxLamports": {"priorityLevel": fee.priority_level, "maxLamports": fee.max_lamports}
            },
        }
        return self._swap(self._call("POST", "/swap/v1/swap", json=body), decode=_b64)
