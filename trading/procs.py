"""Processes the trading app adds to the local Procfile (`make run`, via jarvis.procs)."""

from __future__ import annotations

from django.conf import settings


def processes(python: str) -> dict[str, str]:
    """The sandbox serves paper and sandbox modes (prices, local chain, venue stand-ins); live mode has none."""
    if settings.TRADING_MODE not in ("paper", "sandbox"):
        return {}
    return {"sandbox": f"{python} {settings.BASE_DIR / 'manage.py'} sandbox"}
