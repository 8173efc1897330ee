"""Jupiter Swap API V2 client (jup-ag/docs, openapi-spec/swap/v2/swap.yaml), `x-api-key`.

The desk signs and lands its own transactions (one signature per attempt, re-sent until its last valid block height), so
it takes the documented advanced path: `GET /swap/v2/build` answers the swap's instructions, a blockhash and its
`lastValidBlockHeight`, and this client assembles them into a v0 VersionedTransaction with solders (`/execute` is not
available for `/build` transactions, and the desk needs none). A quote without a wallet (the buy preview, and the
router's first step) is `GET /swap/v2/order` without `taker`, restricted to the Metis router, which is the only router
`/build` uses, so the preview and the built swap come from the same router.

Price impact: `/order` answers `priceImpact` in percentage points ("-0.1 = -0.1%", its `priceImpactPct` is deprecated);
`/build` answers `priceImpactPct` as a decimal ratio in a string. Inside the desk it is a fraction either way.
"""

from __future__ import annotations

import base64
import logging
from decimal import Decimal

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from trading.venues.base import (
    FeePolicy,
    HttpVenue,
    Quote,
    SwapTransaction,
    VenueMalformedAnswer,
    VenueNoRoute,
    classify_http_error,
    parse_amount,
    parse_count,
    parse_fraction,
    response_json,
)

log = logging.getLogger(__name__)

NAME = "jupiter"
ORDER_PATH = "/swap/v2/order"
BUILD_PATH = "/swap/v2/build"
SHIELD_PATH = "/ultra/v1/shield"  # openapi-spec/ultra/ultra.yaml: {warnings: {<mint>: [{type, message, severity}]}}
SHIELD_SEVERITIES = ("info", "warning", "critical")
# /build is "Routing is Metis only": quote from the same router (the /order routers are metis, jupiterz, dflow, okx).
OTHER_ROUTERS = "jupiterz,dflow,okx"
# /build's computeBudgetInstructions carry the price only ("does not include compute unit limit"): the desk sets the
# limit (and the simulation before sending shows whether the swap fits).
COMPUTE_UNIT_LIMIT = 400_000
SET_COMPUTE_UNIT_LIMIT = 2  # ComputeBudget instruction tags: SetComputeUnitLimit (u32 follows),
SET_COMPUTE_UNIT_PRICE = 3  # SetComputeUnitPrice (u64 micro-lamports follow)
# Jupiter's own "no route" wording (Metis: errorCode COULD_NOT_FIND_ANY_ROUTE / "Could not find any route",
# "No routes found"); V2's 400 answer documents only {error: string}.
_NO_ROUTE_MARKERS = ("could not find any route", "could_not_find_any_route", "no routes found", "no_routes_found",
                     "route not found", "no route")


def error_detail(payload) -> str:
    """The text of a V2 error answer ({error} on /build, {requestId, error} on /order); "" for any other shape."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return payload["error"]
    return ""


def _malformed(what: str) -> VenueMalformedAnswer:
    return VenueMalformedAnswer(f"Jupiter answered a malformed {what}", venue=NAME)


def _pubkey(value, what: str) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError):
        raise _malformed(what) from None


def instruction_from(raw, what: str) -> Instruction:
    """An Instruction from the spec's {programId, accounts: [{pubkey, isSigner, isWritable}], data: base64}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("accounts"), list) or not isinstance(raw.get("data"), str):
        raise _malformed(what)
    metas = []
    for account in raw["accounts"]:
        if not isinstance(account, dict) or not all(isinstance(account.get(k), bool) for k in ("isSigner", "isWritable")):
            raise _malformed(what)
        metas.append(AccountMeta(_pubkey(account.get("pubkey"), what), account["isSigner"], account["isWritable"]))
    try:
        data = base64.b64decode(raw["data"], validate=True)
    except ValueError:
        raise _malformed(what) from None
    return Instruction(_pubkey(raw.get("programId"), what), data, metas)


def _compute_unit_price(build: dict, *, fee: FeePolicy) -> int:
    """The micro-lamports per compute unit to bid: the desk's own price when it chose one, else the one /build chose
    (its SetComputeUnitPrice), capped so that the whole priority fee (price x the desk's limit) stays within the
    desk's cap for this order."""
    price = 0
    instructions = build.get("computeBudgetInstructions")
    if not isinstance(instructions, list):
        raise _malformed("computeBudgetInstructions")
    for raw in instructions:
        ix = instruction_from(raw, "compute budget instruction")
        data = bytes(ix.data)
        if ix.program_id != COMPUTE_BUDGET_PROGRAM:
            raise _malformed("compute budget instruction (not the ComputeBudget program)")
        if len(data) == 5 and data[0] == SET_COMPUTE_UNIT_LIMIT:
            continue  # not documented there, but harmless: the desk sets its own limit
        if len(data) != 9 or data[0] != SET_COMPUTE_UNIT_PRICE:
            raise _malformed("compute budget instruction (only SetComputeUnitPrice is documented)")
        price = int.from_bytes(data[1:], "little")
    return fee.unit_price_within(COMPUTE_UNIT_LIMIT, venue_price=price)


def transaction_from_build(build: dict, *, taker: str, fee: FeePolicy) -> tuple[bytes, int, int]:
    """Assemble /build's answer into an unsigned v0 transaction paid by ``taker``:
    (serialized transaction, lastValidBlockHeight, priority fee in lamports)."""
    price = _compute_unit_price(build, fee=fee)
    instructions = [set_compute_unit_limit(COMPUTE_UNIT_LIMIT), set_compute_unit_price(price)]
    for index, raw in enumerate(build.get("setupInstructions") or []):
        instructions.append(instruction_from(raw, f"setupInstructions[{index}]"))
    instructions.append(instruction_from(build.get("swapInstruction"), "swapInstruction"))
    if build.get("cleanupInstruction") is not None:
        instructions.append(instruction_from(build["cleanupInstruction"], "cleanupInstruction"))
    for index, raw in enumerate(build.get("otherInstructions") or []):
        instructions.append(instruction_from(raw, f"otherInstructions[{index}]"))
    if build.get("tipInstruction") is not None:
        instructions.append(instruction_from(build["tipInstruction"], "tipInstruction"))
    tables = build.get("addressesByLookupTableAddress") or {}
    if not isinstance(tables, dict) or not all(isinstance(v, list) for v in tables.values()):
        raise _malformed("addressesByLookupTableAddress")
    lookup_tables = [AddressLookupTableAccount(_pubkey(key, "lookup table"), [_pubkey(a, "lookup table") for a in keys])
                     for key, keys in tables.items()]
    meta = build.get("blockhashWithMetadata")
    if not isinstance(meta, dict):
        raise _malformed("blockhashWithMetadata")
    blockhash = meta.get("blockhash")
    if not isinstance(blockhash, list) or len(blockhash) != 32 or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in blockhash
    ):
        raise _malformed("blockhash")
    last_valid = parse_count(meta, "lastValidBlockHeight", venue=NAME)
    try:
        message = MessageV0.try_compile(Pubkey.from_string(taker), instructions, lookup_tables, Hash(bytes(blockhash)))
    except Exception:  # solders raises its own compile errors (too many accounts, bad tables)
        raise _malformed("set of instructions (they do not compile into one transaction)") from None
    unsigned = VersionedTransaction.populate(message, [Signature.default()] * message.header.num_required_signatures)
    return bytes(unsigned), last_valid, price * COMPUTE_UNIT_LIMIT // 1_000_000


class JupiterVenue(HttpVenue):
    name = NAME

    def _call(self, path: str, params: dict) -> dict:
        response = self._request("GET", path, params=params)
        payload = response_json(response, venue=NAME)
        if response.status_code >= 400:
            detail = error_detail(payload)
            no_route = any(marker in detail.lower() for marker in _NO_ROUTE_MARKERS)
            raise classify_http_error(venue=NAME, status=response.status_code, detail=detail, no_route=no_route)
        if not isinstance(payload, dict):
            raise _malformed("answer (not an object)")
        return payload

    def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageBps": str(slippage_bps),
            "swapMode": "ExactIn",
            "excludeRouters": OTHER_ROUTERS,
        }
        raw = self._call(ORDER_PATH, params)
        if raw.get("routePlan") == []:
            raise VenueNoRoute("Jupiter has no route for this trade", venue=NAME)
        impact = raw.get("priceImpact")
        if isinstance(impact, bool) or not isinstance(impact, (int, float)):
            raise _malformed("priceImpact")
        fraction = parse_fraction(str(Decimal(str(impact)) / 100), venue=NAME, name="priceImpact")
        return self._quote(raw, input_mint=input_mint, output_mint=output_mint, min_out_key="otherAmountThreshold",
                           impact=fraction)

    def swap(self, *, quote: Quote, user_public_key: str, fee: FeePolicy) -> SwapTransaction:
        params = {
            "inputMint": quote.input_mint,
            "outputMint": quote.output_mint,
            "amount": str(quote.in_amount),
            "taker": user_public_key,
            "slippageBps": str(quote.slippage_bps),
            "computeUnitPricePercentile": fee.priority_level,
            "wrapAndUnwrapSol": "true",
        }
        build = self._call(BUILD_PATH, params)
        built_min_out = parse_amount(build, "otherAmountThreshold", venue=NAME)
        parse_fraction(build.get("priceImpactPct"), venue=NAME, name="priceImpactPct")
        if built_min_out < quote.min_out_amount:
            log.info("jupiter build's minimum is below the quote's", extra={"quoted": quote.min_out_amount,
                                                                             "built": built_min_out})
        transaction, last_valid, priority = transaction_from_build(build, taker=user_public_key, fee=fee)
        return SwapTransaction(venue=NAME, transaction=transaction, last_valid_block_height=last_valid,
                               prioritization_fee_lamports=priority, compute_unit_limit=COMPUTE_UNIT_LIMIT)

    def shield(self, *, mints: list[str]) -> dict[str, list[tuple[str, str, str]]]:
        """Ultra's token warnings: (type, message, severity) per mint; a mint without warnings may be absent."""
        raw = self._call(SHIELD_PATH, {"mints": ",".join(mints)})
        warnings = raw.get("warnings")
        if not isinstance(warnings, dict):
            raise _malformed("warnings")
        out: dict[str, list[tuple[str, str, str]]] = {}
        for mint, rows in warnings.items():
            if not isinstance(rows, list):
                raise _malformed("warnings entry")
            for row in rows:
                kind, message, severity = (row.get(k) if isinstance(row, dict) else None
                                           for k in ("type", "message", "severity"))
                if not isinstance(kind, str) or not isinstance(message, str) or severity not in SHIELD_SEVERITIES:
                    raise _malformed("warning")
                out.setdefault(mint, []).append((kind, message, severity))
        return out
