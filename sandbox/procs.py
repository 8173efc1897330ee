"""Processes the stand-ins add to the local Procfile (`make run`, via jarvis.procs)."""

from __future__ import annotations

from django.conf import settings


def processes(python: str) -> dict[str, str]:
    """The sandbox serves paper and sandbox modes (prices, local chain, venue stand-ins); live mode has none. The Bot API
    stand-in serves the bot when no TELEGRAM_BOT_TOKEN is configured; the LLM stand-in serves /vibe outside live mode."""
    manage = settings.BASE_DIR / "manage.py"
    procs = {}
    if settings.TRADING_MODE in ("paper", "sandbox"):
        procs["sandbox"] = f"{python} {manage} sandbox"
    if not settings.TELEGRAM_BOT_TOKEN:
        procs["telegram-standin"] = f"{python} {manage} telegram_standin"
    if settings.TRADING_MODE != "live" and settings.VIBE_BASE_URL == f"http://{settings.SANDBOX_HOST}:{settings.VIBE_STANDIN_PORT}":
        procs["llm-standin"] = f"{python} {manage} llm_standin"  # /vibe's provider, unless another one is configured
    return procs
