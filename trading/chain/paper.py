"""The paper chain: lands every paper transaction the moment it is sent, and reports what it moved.

It answers the calls the landing loop makes of a Solana cluster (simulate, send, signature statuses, block height,
the landed transaction's balance changes) for paper transactions (trading.venues.paper), so paper orders take the
same steps as on-chain ones. "Signing" a paper transaction seals it to its order: the order's client id and attempt
are part of the bytes, so every attempt has a signature of its own. A paper transaction never expires.
"""

from __future__ import annotations

import hashlib
import json
import threading

from trading.chain.rpc import SignatureStatus, Simulation, TransactionMeta

_KEPT = 10_000  # landed paper transactions remembered per process (a fill reads its own within milliseconds)


def paper_sign(*, raw: bytes, signer: str) -> tuple[bytes, str]:
    """Seal a paper transaction to `signer` (an order's client id and attempt); return (sealed bytes, signature)."""
    body = json.loads(raw)
    body["signer"] = signer
    sealed = json.dumps(body, sort_keys=True).encode()
    return sealed, "paper-" + hashlib.sha256(sealed).hexdigest()


class PaperChain:
    """One per process. Landed transactions are kept in memory: a signature this process never saw is unknown (None),
    so the landing loop re-sends the stored bytes, and they land then."""

    def __init__(self):
        self._landed: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def simulate(self, tx: bytes, *, sig_verify: bool = True) -> Simulation:
        return Simulation(err=None, logs=(), units_consumed=0)

    def send_raw(self, tx: bytes) -> str:
        signature = "paper-" + hashlib.sha256(tx).hexdigest()
        with self._lock:
            if len(self._landed) >= _KEPT:
                self._landed.pop(next(iter(self._landed)))
            self._landed[signature] = tx
        return signature

    def block_height(self) -> int:
        return 0

    def signature_statuses(self, signatures: list[str]) -> list[SignatureStatus | None]:
        return [
            SignatureStatus(slot=0, confirmations=None, err=None, confirmation_status="confirmed")
            if signature in self._landed
            else None
            for signature in signatures
        ]

    def transaction(self, signature: str) -> TransactionMeta | None:
        tx = self._landed.get(signature)
        if tx is None:
            return None
        body = json.loads(tx)
        owner, mint, tokens, rent = body["owner"], body["mint"], body["tokens"], body.get("rent", 0)
        account = f"{owner}:{mint}"  # the owner's paper token account of the mint: index 1
        held = {"accountIndex": 1, "owner": owner, "mint": mint, "uiTokenAmount": {"amount": str(abs(tokens))}}
        # A buy creates the account when it pays rent (its lamports go from 0 to the rent); a sell that gets rent back
        # closes it (from the rent to 0). Otherwise the account holds an unknown deposit that does not move.
        before, after = (0, rent) if rent > 0 else (-rent, 0)
        return TransactionMeta(
            slot=0,
            err=None,
            fee=body["fee"],
            account_keys=(owner, account),
            pre_balances=(0, before),
            post_balances=(body["sol"] - rent, after),
            pre_token_balances=() if tokens > 0 else (held,),
            post_token_balances=(held,) if tokens > 0 else (),
        )

paper_chain = PaperChain()
