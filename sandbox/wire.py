"""Solana JSON-RPC wire shapes for accounts, token amounts, errors and confirmed transactions."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from solders.account import Account
from solders.account_decoder import UiTokenAmount
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    UiLoadedAddresses,
    UiTransactionStatusMeta,
    UiTransactionTokenBalance,
)

from sandbox.chain import ACCOUNT_SIZE, MINT_SIZE, TOKEN_PROGRAMS, TxRecord, token_kind

MAX_RENT_EPOCH = 18446744073709551615
TOKEN_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


def ui_amount_string(amount: int, decimals: int) -> str:
    value = Decimal(amount).scaleb(-decimals)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def token_amount(amount: int, decimals: int) -> dict:
    text = ui_amount_string(amount, decimals)
    return {"amount": str(amount), "decimals": decimals, "uiAmount": float(text), "uiAmountString": text}


def _parsed_account(address: Pubkey, acc: Account, mint_decimals) -> dict | None:
    program = str(acc.owner)
    if program not in TOKEN_PROGRAMS:
        return None
    label = "spl-token" if program == TOKEN_PROGRAMS[0] else "spl-token-2022"
    data = bytes(acc.data)
    kind = token_kind(acc)
    if kind == "account":
        ta = TokenAccount.from_bytes(data[:ACCOUNT_SIZE])
        info = {
            "isNative": False,
            "mint": str(ta.mint),
            "owner": str(ta.owner),
            "state": TOKEN_STATES.get(int(ta.state), "initialized"),
            "tokenAmount": token_amount(ta.amount, mint_decimals(ta.mint)),
        }
        parsed = {"info": info, "type": "account"}
    elif kind == "mint":
        mint = Mint.from_bytes(data[:MINT_SIZE])
        parsed = {"info": {"decimals": mint.decimals, "freezeAuthority": None, "isInitialized": True,
                           "mintAuthority": None, "supply": str(mint.supply)}, "type": "mint"}
    else:
        return None
    return {"program": label, "parsed": parsed, "space": len(data)}


def account_json(address: Pubkey, acc: Account | None, *, encoding: str, mint_decimals) -> dict | None:
    if acc is None:
        return None
    data = bytes(acc.data)
    out = {"executable": acc.executable, "lamports": acc.lamports, "owner": str(acc.owner),
           "rentEpoch": MAX_RENT_EPOCH, "space": len(data)}
    parsed = _parsed_account(address, acc, mint_decimals) if encoding == "jsonParsed" else None
    if parsed is not None:
        out["data"] = parsed
    elif encoding == "base58":
        import base58

        out["data"] = [base58.b58encode(data).decode(), "base58"]
    else:
        out["data"] = [base64.b64encode(data).decode(), "base64"]
    return out


def _token_balances(rows) -> list[UiTransactionTokenBalance]:
    out = []
    for index, mint, owner, program, amount, decimals in rows:
        text = ui_amount_string(amount, decimals)
        ui = UiTokenAmount(float(text), decimals, str(amount), text)
        out.append(UiTransactionTokenBalance(index, Pubkey.from_string(mint), ui, Pubkey.from_string(owner),
                                             Pubkey.from_string(program)))
    return out


def transaction_json(record: TxRecord) -> dict:
    """The getTransaction result for an executed transaction (base64 transaction, full meta)."""
    meta = UiTransactionStatusMeta(
        record.err, record.fee, record.pre_balances, record.post_balances, [], record.logs,
        _token_balances(record.pre_tokens), _token_balances(record.post_tokens), [],
        UiLoadedAddresses([], []), None, record.compute_units,
    )
    encoded = EncodedTransactionWithStatusMeta(record.tx, meta, 0)
    full = EncodedConfirmedTransactionWithStatusMeta(record.slot, encoded, record.block_time)
    data = json.loads(full.to_json())
    if record.err is not None:
        data["meta"]["status"] = {"Err": data["meta"]["err"]}
    return data
