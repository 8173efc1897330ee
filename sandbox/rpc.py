"""The Solana JSON-RPC server of the sandbox: the methods the desk's chain client uses, over the sandbox chain."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import base58
from solders.pubkey import Pubkey
from solders.transaction_metadata import FailedTransactionMetadata

from sandbox.chain import Chain, ChainError, err_json
from sandbox.faults import Faults
from sandbox.holders import token_largest_accounts, token_supply
from sandbox.httpserver import Request, Response
from sandbox.wire import account_json, token_amount, transaction_json

API_VERSION = "2.2.0"
FEE_PER_SIGNATURE = 5000


def _invalid(message: str) -> ChainError:
    return ChainError(-32602, message)


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(str(value))
    except Exception:
        raise _invalid(f"Invalid param: {value!r} is not a valid public key") from None


class RpcServer:
    def __init__(self, *, chain: Chain, faults: Faults):
        self.chain = chain
        self.faults = faults
        self._airdrops: dict[str, int] = {}
        self.methods = {
            "getHealth": lambda p: "ok",
            "getVersion": lambda p: {"solana-core": API_VERSION, "feature-set": 0},
            "getSlot": lambda p: self.chain.block_height(),
            "getBlockHeight": lambda p: self.chain.block_height(),
            "getLatestBlockhash": self.get_latest_blockhash,
            "isBlockhashValid": lambda p: self._ctx(self.chain.blockhash_valid(str(p[0]))),
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
            "getSignatureStatuses": self.get_signature_statuses,
            "getTransaction": self.get_transaction,
            "getBalance": lambda p: self._ctx(self.chain.sol_balance(_pubkey(p[0]))),
            "getAccountInfo": self.get_account_info,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getMinimumBalanceForRentExemption": lambda p: self.chain.svm.minimum_balance_for_rent_exemption(int(p[0])),
            "getFeeForMessage": self.get_fee_for_message,
            "requestAirdrop": self.request_airdrop,
            "getTokenLargestAccounts": lambda p: self._ctx(token_largest_accounts(self.chain, _pubkey(p[0]))),
            "getTokenSupply": lambda p: self._ctx(token_supply(self.chain, _pubkey(p[0]))),
        }

    # --- HTTP -----------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.json({"error": "use POST with a JSON-RPC body"}, status=405)
        try:
            payload = json.loads(request.body)
        except ValueError:
            return Response.json({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None})
        first = payload[0] if isinstance(payload, list) and payload else payload
        method = first.get("method") if isinstance(first, dict) else None
        fault = self._http_fault(method)
        if fault is not None:
            return fault
        if isinstance(payload, list):
            return Response.json([self.dispatch(item) for item in payload])
        return Response.json(self.dispatch(payload))

    def _http_fault(self, method: str | None) -> Response | None:
        if (f := self.faults.take("rpc", "slow", method=method)) is not None:
            time.sleep(float(f.params.get("seconds", 1.0)))
        if (f := self.faults.take("rpc", "timeout", method=method)) is not None:
            return Response.hang(float(f.params.get("seconds", 15)))
        if (f := self.faults.take("rpc", "http_429", method=method)) is not None:
            body = {"jsonrpc": "2.0", "error": {"code": 429, "message": "Too many requests for a specific RPC call"}, "id": None}
            return Response.json(body, status=429, headers={"Retry-After": str(f.params.get("retry_after", 1))})
        if (f := self.faults.take("rpc", "http_5xx", method=method)) is not None:
            return Response.json({"jsonrpc": "2.0", "error": {"code": -32603, "message": "Internal error"}, "id": None},
                                 status=int(f.params.get("status", 503)))
        return None

    def dispatch(self, call: Any) -> dict:
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": call_id}
        handler = self.methods.get(call["method"])
        if handler is None:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": call_id}
        params = call.get("params") or []
        try:
            result = handler(params)
        except ChainError as exc:
            error = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                error["data"] = exc.data
            return {"jsonrpc": "2.0", "error": error, "id": call_id}
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": f"Invalid params: {exc}"}, "id": call_id}
        if (fault := self.faults.take("rpc", "malformed", method=call["method"])) is not None:
            result = fault.params.get("value")  # a result of a shape the RPC docs never describe
        return {"jsonrpc": "2.0", "result": result, "id": call_id}

    # --- methods --------------------------------------------------------------------------------------
    def _ctx(self, value: Any) -> dict:
        return {"context": {"slot": self.chain.block_height(), "apiVersion": API_VERSION}, "value": value}

    @staticmethod
    def _config(params: list, index: int) -> dict:
        return params[index] if len(params) > index and isinstance(params[index], dict) else {}

    def get_latest_blockhash(self, params: list) -> dict:
        blockhash, last_valid = self.chain.latest_blockhash()
        return self._ctx({"blockhash": blockhash, "lastValidBlockHeight": last_valid})

    @staticmethod
    def _decode_tx(data: str, encoding: str) -> bytes:
        try:
            return base58.b58decode(data) if encoding == "base58" else base64.b64decode(data, validate=True)
        except ValueError:
            raise _invalid(f"invalid transaction: failed to decode {encoding} string") from None

    def send_transaction(self, params: list) -> str:
        config = self._config(params, 1)
        raw = self._decode_tx(params[0], config.get("encoding", "base58"))
        return self.chain.send(raw, skip_preflight=bool(config.get("skipPreflight", False)))

    def simulate_transaction(self, params: list) -> dict:
        config = self._config(params, 1)
        tx = self.chain.decode(self._decode_tx(params[0], config.get("encoding", "base58")))
        sig_verify = bool(config.get("sigVerify", False))
        if not config.get("replaceRecentBlockhash") and not self.chain.blockhash_valid(str(tx.message.recent_blockhash)):
            return self._ctx({"err": "BlockhashNotFound", "logs": [], "accounts": None, "unitsConsumed": 0,
                              "returnData": None})
        with self.chain.lock:
            self.chain.svm.with_sigverify(sig_verify)
            try:
                result = self.chain.simulate(tx, sig_verify=sig_verify)
            finally:
                self.chain.svm.with_sigverify(True)
        failed = isinstance(result, FailedTransactionMetadata)
        meta = result.meta()
        return self._ctx({"err": err_json(result.err()) if failed else None, "logs": list(meta.logs()), "accounts": None,
                          "unitsConsumed": meta.compute_units_consumed(), "returnData": None})

    def get_signature_statuses(self, params: list) -> dict:
        if self._config(params, 1).get("searchTransactionHistory") and self.faults.take(
                "rpc", "no_history", method="getSignatureStatuses"):
            # agave rpc/src/custom_error.rs, RpcCustomError::TransactionHistoryNotAvailable
            raise ChainError(-32011, "Transaction history is not available from this node")
        out = []
        for sig in params[0]:
            record = self.chain.record(str(sig))
            if record is not None:
                err = err_json(record.err)
                out.append({"slot": record.slot, "confirmations": None, "err": err,
                            "status": {"Err": err} if err else {"Ok": None}, "confirmationStatus": "finalized"})
            elif str(sig) in self._airdrops:
                out.append({"slot": self._airdrops[str(sig)], "confirmations": None, "err": None,
                            "status": {"Ok": None}, "confirmationStatus": "finalized"})
            else:
                out.append(None)
        return self._ctx(out)

    def get_transaction(self, params: list) -> dict | None:
        config = self._config(params, 1)
        record = self.chain.record(str(params[0]))
        if record is None:
            return None
        if config.get("maxSupportedTransactionVersion") is None:
            raise ChainError(-32015, "Transaction version (0) is not supported by the requesting client. Please try the "
                                     "request again with the following configuration parameter: "
                                     '"maxSupportedTransactionVersion": 0')
        return transaction_json(record)

    def _mint_decimals(self, mint) -> int:
        info = self.chain.mint_info(mint)
        return info[0] if info else 0

    def get_account_info(self, params: list) -> dict:
        address = _pubkey(params[0])
        encoding = self._config(params, 1).get("encoding", "base64")
        return self._ctx(account_json(address, self.chain.account(address), encoding=encoding,
                                      mint_decimals=self._mint_decimals))

    def get_multiple_accounts(self, params: list) -> dict:
        encoding = self._config(params, 1).get("encoding", "base64")
        keys = [_pubkey(p) for p in params[0]]
        return self._ctx([account_json(k, self.chain.account(k), encoding=encoding, mint_decimals=self._mint_decimals)
                          for k in keys])

    def get_token_accounts_by_owner(self, params: list) -> dict:
        owner = _pubkey(params[0])
        selector = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        encoding = self._config(params, 2).get("encoding", "base64")
        if "mint" in selector:
            found = self.chain.token_accounts_by_owner(owner, mint=_pubkey(selector["mint"]))
        elif "programId" in selector:
            found = self.chain.token_accounts_by_owner(owner, program=_pubkey(selector["programId"]))
        else:
            raise _invalid("Invalid params: expected a mint or a programId filter")
        return self._ctx([{"pubkey": str(address),
                           "account": account_json(address, acc, encoding=encoding, mint_decimals=self._mint_decimals)}
                          for address, acc in found])

    def get_token_account_balance(self, params: list) -> dict:
        ta = self.chain.token_account(_pubkey(params[0]))
        if ta is None:
            raise _invalid("Invalid param: not a Token account")
        return self._ctx(token_amount(ta.amount, self._mint_decimals(ta.mint)))

    def get_recent_prioritization_fees(self, params: list) -> list[dict]:
        """One entry per slot of the last 150: the configured series when one is set (control API
        `/sandbox/priority-fees`, the newest slot last), else the lowest compute-unit price of the transactions that
        landed in that slot writing any of the given accounts (any transaction when none are given), 0 for a slot
        without one, as a node reports what it saw."""
        height = self.chain.block_height()
        slots = range(height - 149, height + 1)
        series = self.chain.priority_fee_series
        if series:
            padded = [0] * max(0, 150 - len(series)) + list(series)[-150:]
            return [{"slot": slot, "prioritizationFee": fee} for slot, fee in zip(slots, padded)]
        accounts = {_pubkey(a) for a in (params[0] if params and isinstance(params[0], list) else [])}
        lowest = self.chain.landed_unit_prices(first_slot=slots[0], accounts=accounts)
        return [{"slot": slot, "prioritizationFee": lowest.get(slot, 0)} for slot in slots]

    def get_fee_for_message(self, params: list) -> dict:
        from solders.message import from_bytes_versioned

        try:
            message = from_bytes_versioned(base64.b64decode(params[0]))
        except Exception:
            raise _invalid("Invalid param: failed to decode the message") from None
        return self._ctx(FEE_PER_SIGNATURE * message.header.num_required_signatures)

    def request_airdrop(self, params: list) -> str:
        lamports = int(params[1])
        if lamports <= 0:
            raise _invalid("Invalid param: lamports must be positive")
        signature = self.chain.airdrop(_pubkey(params[0]), lamports)
        self._airdrops[signature] = self.chain.block_height()
        return signature
