"""The ledger: everything submitted to the sandbox chain, per signature, with the swap it carries.

Tests and the chaos benchmark count fills here exactly: a signature appears once however often it was re-sent
(`sends` counts the copies), and a swap is counted as filled only when its transaction landed without error.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# Outcomes of a submission
PENDING = "pending"  # accepted, waiting out a confirmation delay
LANDED = "landed"  # executed without error
FAILED = "failed"  # executed (fee charged) with an error
DROPPED = "dropped"  # accepted by the RPC and lost (fault injection)
EXPIRED = "expired"  # its blockhash was unknown or past lastValidBlockHeight: never lands
REJECTED = "rejected"  # refused at the door (bad signature, preflight failure): never sent


@dataclass(frozen=True)
class SwapDetails:
    venue: str
    owner: str
    mint: str
    side: str  # "buy" (SOL -> token) or "sell" (token -> SOL)
    in_amount: int
    out_amount: int
    min_out_amount: int
    request_id: str
    will_fail: str = ""  # why the transaction was built to fail ("" when it should succeed)


@dataclass
class LedgerEntry:
    signature: str
    signers: list[str]
    status: str
    submitted_at: float
    sends: int = 1
    slot: int | None = None
    landed_at: float | None = None
    error: str | None = None
    fee: int = 0
    client_id: str | None = None
    swap: SwapDetails | None = None

    @property
    def landed(self) -> bool:
        return self.status == LANDED

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["landed"] = self.landed
        return data


@dataclass
class Ledger:
    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    _swaps: dict[bytes, SwapDetails] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- written by the venues and the chain ----------------------------------------------------------
    def register_swap(self, message_key: bytes, details: SwapDetails) -> None:
        with self._lock:
            self._swaps[message_key] = details

    def swap_for(self, message_key: bytes) -> SwapDetails | None:
        return self._swaps.get(message_key)

    def record(self, *, signature: str, signers: list[str], status: str, swap: SwapDetails | None,
               error: str | None = None, client_id: str | None = None) -> LedgerEntry:
        with self._lock:
            entry = self.entries.get(signature)
            if entry is not None:
                entry.sends += 1
                entry.client_id = entry.client_id or client_id
                return entry
            entry = LedgerEntry(signature=signature, signers=signers, status=status, submitted_at=time.time(),
                                error=error, client_id=client_id, swap=swap)
            self.entries[signature] = entry
        if status != PENDING:
            _log_outcome(entry)
        return entry

    def settle(self, signature: str, *, status: str, slot: int | None = None, error: str | None = None, fee: int = 0) -> None:
        with self._lock:
            entry = self.entries[signature]
            entry.status = status
            entry.slot = slot
            entry.error = error
            entry.fee = fee
            if status in (LANDED, FAILED):
                entry.landed_at = time.time()
        _log_outcome(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    # --- queries --------------------------------------------------------------------------------------
    def get(self, signature: str) -> LedgerEntry | None:
        return self.entries.get(signature)

    def by_client_id(self, client_id: str) -> list[LedgerEntry]:
        return [e for e in self.all() if e.client_id == client_id]

    def all(self, *, status: str | None = None, owner: str | None = None, mint: str | None = None) -> list[LedgerEntry]:
        with self._lock:
            items = list(self.entries.values())
        out = []
        for entry in items:
            if status is not None and entry.status != status:
                continue
            if owner is not None and (entry.swap is None or entry.swap.owner != owner) and owner not in entry.signers:
                continue
            if mint is not None and (entry.swap is None or entry.swap.mint != mint):
                continue
            out.append(entry)
        return sorted(out, key=lambda e: e.submitted_at)

    def swaps(self, *, owner: str | None = None, mint: str | None = None, side: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.all(owner=owner, mint=mint) if e.swap is not None and (side is None or e.swap.side == side)]

    def landed_swaps(self, *, owner: str | None = None, mint: str | None = None, side: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.swaps(owner=owner, mint=mint, side=side) if e.landed]

    def fill_count(self, *, owner: str | None = None, mint: str | None = None, side: str | None = None) -> int:
        return len(self.landed_swaps(owner=owner, mint=mint, side=side))

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.all():
            counts[entry.status] = counts.get(entry.status, 0) + 1
        counts["fills"] = sum(1 for e in self.all() if e.landed and e.swap is not None)
        return counts


def _log_outcome(entry: LedgerEntry) -> None:
    """One line per settled submission: what an operator watching `make run` wants to see."""
    if not logger.isEnabledFor(logging.INFO):
        return
    swap = entry.swap
    what = f"{swap.venue} {swap.side} {swap.in_amount} -> {swap.out_amount} of {swap.mint[:8]}" if swap else "transaction"
    logger.info("sandbox %s %s %s%s", entry.status, what, entry.signature[:12],
                f" ({entry.error})" if entry.error else "")

