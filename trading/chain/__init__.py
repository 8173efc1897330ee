"""The Solana side of execution: a JSON-RPC client and transaction signing.

Clients are long-lived per process (keyed by pid, so a forked worker child builds its own): building an httpx client
loads the CA bundle (~0.1 s, far more on a busy machine), and a kept-alive connection saves a handshake per call.
httpx clients are safe to share between threads. Never close a shared client.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings

from trading.chain.rpc import RpcError, RpcPermanentError, RpcTransientError, SolanaRpc

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


def shared_client(key: tuple, factory):
    """The process's client for ``key``, built by ``factory()`` on first use."""
    key = (os.getpid(), *key)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = factory()
        return client


def rpc_client() -> SolanaRpc:
    """The shared client of the configured cluster (the sandbox chain in sandbox mode, a real cluster in live mode)."""
    url, timeout = settings.SOLANA_RPC_URL, settings.SOLANA_RPC_TIMEOUT_SECONDS
    return shared_client(("rpc", url, timeout), lambda: SolanaRpc(url, timeout=timeout))


__all__ = ["RpcError", "RpcPermanentError", "RpcTransientError", "SolanaRpc", "rpc_client", "shared_client"]
