"""The external clients execution uses, built from settings (the same code for sandbox and live: only URLs differ)."""

from __future__ import annotations

import logging

from django.conf import settings

from trading.chain import SolanaRpc
from trading.venues.bags import BagsVenue
from trading.venues.base import Venue, VenueAuthError
from trading.venues.jupiter import JupiterVenue

log = logging.getLogger(__name__)


def rpc_for_execution() -> SolanaRpc:
    return SolanaRpc(settings.SOLANA_RPC_URL, timeout=settings.SOLANA_RPC_TIMEOUT_SECONDS)


def venues_in_order() -> list[Venue]:
    """bags.fm first, Jupiter second."""
    timeout = settings.VENUE_TIMEOUT_SECONDS
    return [
        BagsVenue(base_url=settings.BAGS_API_URL, api_key=settings.BAGS_API_KEY or "", timeout=timeout),
        JupiterVenue(base_url=settings.JUPITER_API_URL, api_key=settings.JUPITER_API_KEY or "", timeout=timeout),
    ]


def venues_close(venues: list[Venue]) -> None:
    for venue in venues:
        venue.close()


def venue_auth_alert(error: VenueAuthError) -> None:
    """An API key was refused: operators must act. Raised as an alert when monitoring offers one; always logged."""
    log.error("ALERT venue authentication failed: %s", error.message, extra={"venue": error.venue, "alert": True})
    try:
        from monitoring import metrics

        metrics.provider_observe(provider=error.venue, operation="auth", outcome="refused")
    except Exception:  # metrics are best effort; the log line above is the alert of record
        log.debug("metrics unavailable for venue auth alert", exc_info=True)
    try:
        from monitoring.services import alert_raise
    except ImportError:
        return
    alert_raise(key=f"venue_auth:{error.venue}", summary=error.message, severity="critical")
