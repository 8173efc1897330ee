"""The Solana side of execution: a JSON-RPC client and transaction signing."""

from __future__ import annotations

from trading.chain.rpc import RpcError, RpcPermanentError, RpcTransientError, SolanaRpc


def rpc_client() -> SolanaRpc:
    """A client for the configured cluster (the sandbox chain in sandbox mode, a real cluster in live mode)."""
    from django.conf import settings

    return SolanaRpc(settings.SOLANA_RPC_URL, timeout=settings.SOLANA_RPC_TIMEOUT_SECONDS)


__all__ = ["RpcError", "RpcPermanentError", "RpcTransientError", "SolanaRpc", "rpc_client"]
