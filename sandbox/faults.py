"""Faults on demand for the sandbox services: set by tests, benches and the chaos runs, consumed by the servers.

Each fault is (service, kind) with parameters; `count` bounds how many times it fires (None = until cleared),
`methods` (RPC only) limits it to some JSON-RPC methods, and `probability` (0 < p <= 1) makes it fire on that share of
the calls it could hit, drawn from a seeded generator so a chaos run repeats.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SERVICES = ("rpc", "bags", "jupiter")
KINDS = {
    # RPC: drop a sent transaction (answer with its signature, never land it), delay its confirmation,
    # answer 429 / 5xx, hold the request past the client's timeout, or behave like a node that keeps no transaction
    # history (`no_history`: -32011 to getSignatureStatuses with searchTransactionHistory, as agave's RPC answers), or
    # answer a result of an undocumented shape (`malformed`: the result replaced by `value`), or answer `seconds` late
    # (`slow`).
    "rpc": ("drop", "confirm_delay", "http_429", "http_5xx", "timeout", "no_history", "malformed", "slow"),
    # Venues: everything unavailable (503), rate limited (429), slow answers, no route for a quote,
    # a swap transaction that fails simulation (and on chain), or an answer with one field broken (`malformed`).
    "bags": ("outage", "http_429", "slow", "no_route", "fail_simulation", "timeout", "malformed"),
    "jupiter": ("outage", "http_429", "slow", "no_route", "fail_simulation", "timeout", "malformed"),
}


class FaultError(ValueError):
    """An unknown service, fault kind or parameter."""


@dataclass
class Fault:
    service: str
    kind: str
    count: int | None = None
    methods: tuple[str, ...] = ()
    probability: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "count": self.count,
            "methods": list(self.methods),
            "probability": self.probability,
            "params": self.params,
            "fired": self.fired,
        }


class Faults:
    """Thread-safe registry of active faults."""

    def __init__(self, *, seed: int = 7) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}
        self._rng = random.Random(seed)

    def set(self, service: str, fault: str, *, count: int | None = None, methods=(), probability: float = 1.0,
            **params: Any) -> Fault:
        if service not in SERVICES:
            raise FaultError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
        if fault not in KINDS[service]:
            raise FaultError(f"unknown fault {fault!r} for {service}; expected one of {', '.join(KINDS[service])}")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError("count must be a positive integer")
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 < probability <= 1:
            raise FaultError("probability must be a number in (0, 1]")
        for name in ("seconds", "retry_after", "status"):
            value = params.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value < 0):
                raise FaultError(f"{name} must be a non-negative number")
        entry = Fault(service=service, kind=fault, count=count, methods=tuple(methods or ()),
                      probability=float(probability), params=dict(params))
        with self._lock:
            self._faults[(service, fault)] = entry
        return entry

    def clear(self, service: str | None = None, fault: str | None = None) -> None:
        with self._lock:
            for key in list(self._faults):
                if (service is None or key[0] == service) and (fault is None or key[1] == fault):
                    del self._faults[key]

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults.values()]

    def take(self, service: str, fault: str, *, method: str | None = None) -> Fault | None:
        """The fault if it is active for this call (counting it as fired), else None."""
        key = (service, fault)
        if key not in self._faults:  # fast path without the lock: the common case is no fault at all
            return None
        with self._lock:
            entry = self._faults.get(key)
            if entry is None or (entry.methods and method not in entry.methods):
                return None
            if entry.probability < 1 and self._rng.random() >= entry.probability:
                return None
            entry.fired += 1
            if entry.count is not None and entry.fired >= entry.count:
                del self._faults[key]
            return entry
