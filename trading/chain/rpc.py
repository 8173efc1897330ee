"""Solana JSON-RPC client (httpx, synchronous): the handful of calls the landing loop and reconciliation need.

Errors come in two kinds (CONVENTIONS.md): ``RpcTransientError`` (timeout, connection refused, HTTP 429/5xx, node behind)
is retried here with backoff and jitter up to a bound, then raised; ``RpcPermanentError`` (invalid params, unknown method,
a rejected transaction) is raised at once. Every request carries a timeout.
"""

from __future__ import annotations

import base64
import itertools
import logging
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from solders.transaction import VersionedTransaction

from trading.chain.observe import provider_call
from trading.chain.retry import TransientError, call_with_retries
from trading.ratelimit import Priority, RateLimited, current_priority, limit_observe, slot_acquire

log = logging.getLogger(__name__)

TOKEN_PROGRAM_ID = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM_ID = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
SOL_MINT = "So11111111111111111111111111111111111111112"

# JSON-RPC error codes a healthy retry can clear: node unhealthy/behind, slot skipped or not yet available,
# internal error, and the generic server error range used by rate limiting proxies.
RPC_ACCOUNT = "solana_rpc"  # the provider account (rate limit, budget, metrics' provider label)
_TRANSIENT_RPC_CODES = {-32005, -32004, -32007, -32009, -32014, -32016, -32603}
# agave rpc/src/custom_error.rs: JSON_RPC_SERVER_ERROR_TRANSACTION_HISTORY_NOT_AVAILABLE, answered to
# getSignatureStatuses with searchTransactionHistory: true by a node that keeps no transaction history.
TRANSACTION_HISTORY_NOT_AVAILABLE = -32011


class RpcError(Exception):
    def __init__(self, message: str, *, code: int | None = None, data=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


class RpcTransientError(RpcError, TransientError):
    """Retry later: the node or the network, not the request, is the problem."""


class RpcPermanentError(RpcError):
    """The request itself was refused; retrying the same call will not help."""


class RpcMalformedAnswer(RpcPermanentError):
    """The node answered a result of a shape the RPC docs never describe (a missing field, a string where a number is
    documented): a permanent error for that call, logged, never a crash."""

    def __init__(self, method: str, problem: str):
        super().__init__(f"{method}: the RPC node answered an undocumented shape ({problem})")
        log.error("RPC answered an undocumented shape", extra={"method": method, "problem": problem})


@contextmanager
def reading(method: str):
    """Read a result inside this block: a missing key or a wrong type becomes RpcMalformedAnswer."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise RpcMalformedAnswer(method, f"{type(exc).__name__}: {exc}"[:120]) from None


def _count(value) -> int:
    """A u64 the docs give as a JSON number (never a string, never a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a non-negative integer, got {value!r}"[:80])
    return value


@dataclass(frozen=True)
class Blockhash:
    blockhash: str
    last_valid_block_height: int


@dataclass(frozen=True)
class SignatureStatus:
    slot: int
    confirmations: int | None
    err: object | None
    confirmation_status: str | None

    @property
    def landed(self) -> bool:
        """Confirmed or finalized (with or without an error: a failed transaction has landed too)."""
        return self.confirmation_status in ("confirmed", "finalized")


@dataclass(frozen=True)
class Simulation:
    err: object | None
    logs: tuple[str, ...]
    units_consumed: int | None


@dataclass(frozen=True)
class TransactionMeta:
    """What a landed transaction did to its accounts: fee, SOL and token balance changes (base units)."""

    slot: int
    err: object | None
    fee: int
    account_keys: tuple[str, ...]
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    pre_token_balances: tuple[dict, ...]
    post_token_balances: tuple[dict, ...]

    def sol_delta(self, owner: str) -> int:
        """Lamports gained (positive) or spent (negative) by ``owner``, the fee included."""
        if owner not in self.account_keys:
            return 0
        index = self.account_keys.index(owner)
        return self.post_balances[index] - self.pre_balances[index]

    def token_delta(self, owner: str, mint: str) -> int:
        """Base units of ``mint`` gained (positive) or given up (negative) by ``owner`` across its token accounts."""

        def total(balances: tuple[dict, ...]) -> int:
            return sum(
                int(b["uiTokenAmount"]["amount"]) for b in balances if b.get("owner") == owner and b.get("mint") == mint
            )

        return total(self.post_token_balances) - total(self.pre_token_balances)

    def rent_delta(self, owner: str, mint: str) -> int:
        """Lamports that moved into (positive: an account created, its rent paid) or out of (negative: an account
        closed, its rent returned) ``owner``'s token accounts of ``mint`` in this transaction."""
        indices = {
            b["accountIndex"] for b in (*self.pre_token_balances, *self.post_token_balances)
            if b.get("owner") == owner and b.get("mint") == mint and isinstance(b.get("accountIndex"), int)
        }
        return sum(self.post_balances[i] - self.pre_balances[i] for i in indices
                   if i < len(self.post_balances) and i < len(self.pre_balances))


def _transaction_meta(value: dict) -> TransactionMeta:
    """A landed transaction's meta (strict: the fill is computed from it, so a missing fee is not a zero fee)."""
    meta = value["meta"]
    encoded = value["transaction"]
    if isinstance(encoded, dict):  # a node that answered in "json" encoding anyway
        keys = list(encoded["message"].get("accountKeys") or [])
    else:
        tx = VersionedTransaction.from_bytes(base64.b64decode(encoded[0]))
        keys = [str(key) for key in tx.message.account_keys]
    loaded = meta.get("loadedAddresses") or {}
    keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
    return TransactionMeta(
        slot=_count(value["slot"]),
        err=meta["err"],
        fee=_count(meta["fee"]),
        account_keys=tuple(keys),
        pre_balances=tuple(_count(x) for x in meta["preBalances"]),
        post_balances=tuple(_count(x) for x in meta["postBalances"]),
        pre_token_balances=tuple(meta.get("preTokenBalances") or ()),
        post_token_balances=tuple(meta.get("postTokenBalances") or ()),
    )


class SolanaRpc:
    """One JSON-RPC endpoint. Cheap to create; use as a context manager or call ``close()``."""

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.05, transport=None):
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.searches_history = True  # False once the node said it keeps none (-32011): ask without the search
        self._ids = itertools.count(1)
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), headers={"content-type": "application/json"},
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SolanaRpc:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------------
    def call(self, method: str, params: list | None = None):
        """One JSON-RPC call with bounded retries of transient failures; returns ``result``."""
        return call_with_retries(lambda: self._call_once(method, params or []), attempts=self.retries, base=self.backoff)

    def _call_once(self, method: str, params: list):
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:  # the RPC provider's account has its plan too: the same shared limiter as the venues
            slot_acquire(account=RPC_ACCOUNT, priority=current_priority(default=Priority.ENTRY))
        except RateLimited as exc:
            raise RpcTransientError(f"{method}: {exc}", code=429) from exc
        try:
            with provider_call(RPC_ACCOUNT, method):
                response = self._http.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise RpcTransientError(f"{method}: RPC timed out") from exc
        except httpx.TransportError as exc:
            raise RpcTransientError(f"{method}: RPC unreachable ({type(exc).__name__})") from exc
        limit_observe(account=RPC_ACCOUNT, status=response.status_code, headers=response.headers)
        if response.status_code == 429 or response.status_code >= 500:
            raise RpcTransientError(f"{method}: RPC answered HTTP {response.status_code}", code=response.status_code)
        if response.status_code >= 400:
            raise RpcPermanentError(f"{method}: RPC answered HTTP {response.status_code}", code=response.status_code)
        try:
            payload = response.json()
        except ValueError as exc:
            raise RpcTransientError(f"{method}: RPC answered something that is not JSON") from exc
        error = payload.get("error") if isinstance(payload, dict) else None
        if error:
            code = error.get("code")
            kind = RpcTransientError if code in _TRANSIENT_RPC_CODES else RpcPermanentError
            raise kind(f"{method}: {error.get('message', 'RPC error')}", code=code, data=error.get("data"))
        if not isinstance(payload, dict) or "result" not in payload:
            raise RpcTransientError(f"{method}: RPC answer has no result")
        return payload["result"]

    # --- calls ---------------------------------------------------------------------------------------
    def latest_blockhash(self) -> Blockhash:
        result = self.call("getLatestBlockhash", [{"commitment": "confirmed"}])
        with reading("getLatestBlockhash"):
            value = result["value"]
            if not isinstance(value["blockhash"], str):
                raise TypeError("blockhash is not a string")
            return Blockhash(blockhash=value["blockhash"], last_valid_block_height=_count(value["lastValidBlockHeight"]))

    def block_height(self) -> int:
        result = self.call("getBlockHeight", [{"commitment": "confirmed"}])
        with reading("getBlockHeight"):
            return _count(result)

    def send_raw(self, tx: bytes) -> str:
        """Send signed bytes once: no preflight (we simulate separately), no RPC-side retries (we re-send ourselves)."""
        encoded = base64.b64encode(tx).decode()
        opts = {"encoding": "base64", "skipPreflight": True, "maxRetries": 0, "preflightCommitment": "confirmed"}
        result = self.call("sendTransaction", [encoded, opts])
        with reading("sendTransaction"):
            if not isinstance(result, str):
                raise TypeError("the signature is not a string")
            return result

    def simulate(self, tx: bytes, *, sig_verify: bool = True) -> Simulation:
        encoded = base64.b64encode(tx).decode()
        opts = {"encoding": "base64", "sigVerify": sig_verify, "commitment": "confirmed", "replaceRecentBlockhash": False}
        result = self.call("simulateTransaction", [encoded, opts])
        with reading("simulateTransaction"):
            value = result["value"]
            return Simulation(err=value["err"], logs=tuple(value.get("logs") or ()),
                              units_consumed=value.get("unitsConsumed"))

    def signature_statuses(self, signatures: list[str]) -> list[SignatureStatus | None]:
        """Status per signature, in order (None = unknown to the cluster), 256 per request, history searched where the
        node keeps it. A node without history answers -32011 to the search: this client then asks it without the search
        for good (the node's recent statuses still answer), and an unknown status is settled by block height."""
        found: list[SignatureStatus | None] = []
        for start in range(0, len(signatures), 256):
            chunk = signatures[start : start + 256]
            values = self._statuses(chunk)
            with reading("getSignatureStatuses"):
                if not isinstance(values, list) or len(values) != len(chunk):
                    raise ValueError("not one status per signature")
                found.extend(
                    None
                    if value is None
                    else SignatureStatus(
                        slot=_count(value["slot"]),
                        confirmations=value.get("confirmations"),
                        err=value.get("err"),
                        confirmation_status=value.get("confirmationStatus"),
                    )
                    for value in values
                )
        return found

    def _statuses(self, chunk: list[str]) -> list:
        params: list = [chunk, {"searchTransactionHistory": True}] if self.searches_history else [chunk]
        try:
            result = self.call("getSignatureStatuses", params)
        except RpcPermanentError as exc:
            if exc.code != TRANSACTION_HISTORY_NOT_AVAILABLE or len(params) == 1:
                raise
            log.warning("the RPC node keeps no transaction history (-32011); asking for recent statuses only")
            self.searches_history = False
            result = self.call("getSignatureStatuses", [chunk])
        with reading("getSignatureStatuses"):
            return result["value"]

    def transaction(self, signature: str) -> TransactionMeta | None:
        opts = {"encoding": "base64", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}
        value = self.call("getTransaction", [signature, opts])
        if value is None:
            return None
        with reading("getTransaction"):
            return _transaction_meta(value)

    def balance(self, pubkey: str) -> int:
        result = self.call("getBalance", [pubkey, {"commitment": "confirmed"}])
        with reading("getBalance"):
            return _count(result["value"])


    def token_balances(self, owner: str) -> dict[str, int]:
        """Base units held by ``owner`` per mint, summed over its accounts of both token programs."""
        held: dict[str, int] = {}
        for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            result = self.call(
                "getTokenAccountsByOwner",
                [owner, {"programId": program}, {"encoding": "jsonParsed", "commitment": "confirmed"}],
            )
            with reading("getTokenAccountsByOwner"):
                for account in result["value"]:
                    info = account["account"]["data"]["parsed"]["info"]
                    held[info["mint"]] = held.get(info["mint"], 0) + int(info["tokenAmount"]["amount"])
        return held

    def recent_prioritization_fees(self, accounts: list[str] | None = None) -> list[int]:
        """Micro-lamports per compute unit paid in recent slots (for transactions touching ``accounts``)."""
        values = self.call("getRecentPrioritizationFees", [accounts or []])
        with reading("getRecentPrioritizationFees"):
            return [_count(v["prioritizationFee"]) for v in values]

    def accounts(self, pubkeys: list[str]) -> list[tuple[str, bytes] | None]:
        """(owner program, data) of each account (None where there is none), in one getMultipleAccounts call."""
        result = self.call("getMultipleAccounts", [pubkeys, {"encoding": "base64", "commitment": "confirmed"}])
        with reading("getMultipleAccounts"):
            values = result["value"]
            if len(values) != len(pubkeys):
                raise ValueError("one account per key expected")
            return [None if v is None else (str(v["owner"]), base64.b64decode(v["data"][0], validate=True))
                    for v in values]

    def token_largest_accounts(self, mint: str) -> list[int]:
        """The balances (base units) of the mint's largest token accounts, largest first (the node gives up to 20)."""
        result = self.call("getTokenLargestAccounts", [mint, {"commitment": "confirmed"}])
        with reading("getTokenLargestAccounts"):
            return sorted((int(row["amount"]) for row in result["value"]), reverse=True)
