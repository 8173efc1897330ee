"""The external clients execution uses, built from settings (the same code for sandbox and live: only URLs differ).

Clients are long-lived per process (keyed by pid, so a forked worker child builds its own): building an httpx client
loads the CA bundle (~0.1 s), and a kept-alive connection saves a handshake on every call of the landing loop.
httpx clients are safe to share between threads.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings

from trading.chain import SolanaRpc
from trading.venues.bags import BagsVenue
from trading.venues.base import Venue, VenueAuthError
from trading.venues.jupiter import JupiterVenue

log = logging.getLogger(__name__)

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


def _shared(key: tuple, factory):
    key = (os.getpid(), *key)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = factory()
        return client


def rpc_for_execution() -> SolanaRpc:
    url, timeout = settings.SOLANA_RPC_URL, settings.SOLANA_RPC_TIMEOUT_SECONDS
    return _shared(("rpc", url, timeout), lambda: SolanaRpc(url, timeout=timeout))


def venues_in_order() -> list[Venue]:
    """bags.fm first, Jupiter second."""
    timeout = settings.VENUE_TIMEOUT_SECONDS
    bags_url, bags_key = settings.BAGS_API_URL, settings.BAGS_API_KEY or ""
    jup_url, jup_key = settings.JUPITER_API_URL, settings.JUPITER_API_KEY or ""
    return [
        _shared(("bags", bags_url, bags_key, timeout), lambda: BagsVenue(base_url=bags_url, api_key=bags_key, timeout=timeout)),
        _shared(("jupiter", jup_url, jup_key, timeout), lambda: JupiterVenue(base_url=jup_url, api_key=jup_key, timeout=timeout)),
    ]


def execution_alert(*, key: str, summary: str, severity: str) -> None:
    """Tell operators: an alert through monitoring when it offers one; always an ERROR/WARNING log line."""
    log.log(logging.ERROR if severity == "critical" else logging.WARNING, "ALERT %s", summary, extra={"alert": key})
    try:
        from monitoring.services import alert_raise
    except ImportError:
        return
    try:
        alert_raise(key=key, summary=summary, severity=severity)
    except Exception:  # an alert that cannot be stored must not break execution; the log line stands
        log.exception("could not store alert %s", key)


def venue_auth_alert(error: VenueAuthError) -> None:
    """An API key was refused: operators must act (the router does not fall through to the next venue)."""
    try:
        from monitoring import metrics

        metrics.provider_observe(provider=error.venue, operation="auth", outcome="refused")
    except Exception:  # metrics are best effort
        log.debug("metrics unavailable for venue auth alert", exc_info=True)
    execution_alert(key=f"venue_auth:{error.venue}", summary=error.message, severity="critical")
