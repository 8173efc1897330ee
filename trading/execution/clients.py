"""The external clients execution uses, built from settings (the same code for sandbox and live: only URLs differ).
Shared per process: see trading.chain.shared_client."""

from __future__ import annotations

import logging

from django.conf import settings

from jarvis.events import event_emit
from monitoring import metrics
from trading.chain import SolanaRpc, rpc_client, shared_client
from trading.venues.bags import BagsVenue
from trading.venues.base import Venue, VenueAuthError
from trading.venues.jupiter import JupiterVenue

log = logging.getLogger(__name__)


def rpc_for_execution() -> SolanaRpc:
    return rpc_client()


def venues_in_order() -> list[Venue]:
    """bags.fm first, Jupiter second."""
    timeout = settings.VENUE_TIMEOUT_SECONDS
    bags_url, bags_key = settings.BAGS_API_URL, settings.BAGS_API_KEY or ""
    jup_url, jup_key = settings.JUPITER_API_URL, settings.JUPITER_API_KEY or ""
    bags = shared_client(
        ("bags", bags_url, bags_key, timeout), lambda: BagsVenue(base_url=bags_url, api_key=bags_key, timeout=timeout)
    )
    jupiter = shared_client(
        ("jupiter", jup_url, jup_key, timeout), lambda: JupiterVenue(base_url=jup_url, api_key=jup_key, timeout=timeout)
    )
    return [bags, jupiter]


def execution_alert(*, key: str, summary: str, severity: str) -> None:
    """Tell operators: an "alert.raise" event (monitoring raises the alert) and always an ERROR/WARNING log line.
    A subscriber's failure never reaches execution (jarvis.events); the log line stands."""
    log.log(logging.ERROR if severity == "critical" else logging.WARNING, "ALERT %s", summary, extra={"alert": key})
    event_emit("alert.raise", {"key": key, "summary": summary, "severity": severity})


def venue_auth_alert(error: VenueAuthError) -> None:
    """An API key was refused: operators must act (the router does not fall through to the next venue)."""
    metrics.provider_observe(provider=error.venue, operation="auth", outcome="refused")
    execution_alert(key=f"venue_auth:{error.venue}", summary=error.message, severity="critical")
