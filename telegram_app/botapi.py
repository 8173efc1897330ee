"""A small synchronous Bot API client for the outbox dispatcher (Celery workers are synchronous).

Errors come in three kinds: ``RateLimited`` (429, wait ``retry_after``), ``ChatGone`` (the chat will never
accept messages again: blocked, deactivated, not found) and ``BotApiError`` with ``transient`` telling
whether trying again may work. The bot token is part of the URL: it is never logged.
"""

from __future__ import annotations

import functools
import json
import time

import httpx
from django.conf import settings

from monitoring import metrics

STANDIN_TOKEN = "1000000000:standin-local-token"
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
_GONE = ("bot was blocked", "user is deactivated", "chat not found", "bot was kicked", "user not found",
         "not a member", "peer_id_invalid", "chat_write_forbidden", "have no rights to send")


class BotApiError(Exception):
    def __init__(self, description: str, *, status: int = 0, transient: bool = False):
        super().__init__(description)
        self.description = description
        self.status = status
        self.transient = transient


class RateLimited(BotApiError):
    def __init__(self, description: str, retry_after: float):
        super().__init__(description, status=429, transient=True)
        self.retry_after = retry_after


class ChatGone(BotApiError):
    pass


def bot_token() -> str:
    return settings.TELEGRAM_BOT_TOKEN or STANDIN_TOKEN


def api_base() -> str:
    """Base URL in python-telegram-bot's form (``.../bot``); the token follows."""
    return settings.TELEGRAM_API_URL.rstrip("/") + "/bot"


@functools.lru_cache(maxsize=4)
def _http(base: str) -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))


def call(method: str, params: dict) -> dict | list | bool:
    data = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in params.items() if v is not None}
    url = f"{api_base()}{bot_token()}/{method}"
    started = time.perf_counter()
    try:
        response = _http(settings.TELEGRAM_API_URL).post(url, data=data)
    except httpx.TimeoutException as exc:
        metrics.provider_observe(provider="telegram", operation=method, outcome="error")
        raise BotApiError(f"timeout calling {method}: {type(exc).__name__}", transient=True) from None
    except httpx.HTTPError as exc:
        metrics.provider_observe(provider="telegram", operation=method, outcome="error")
        raise BotApiError(f"network error calling {method}: {type(exc).__name__}", transient=True) from None
    metrics.provider_observe(provider="telegram", operation=method, outcome="ok" if response.status_code == 200 else "error",
                             seconds=time.perf_counter() - started)
    try:
        body = response.json()
    except ValueError:
        raise BotApiError(f"{method}: HTTP {response.status_code} without JSON", status=response.status_code,
                          transient=response.status_code >= 500) from None
    if body.get("ok"):
        return body["result"]
    description = str(body.get("description") or f"HTTP {response.status_code}")
    status = int(body.get("error_code") or response.status_code)
    if status == 429:
        retry = (body.get("parameters") or {}).get("retry_after") or 1
        raise RateLimited(description, float(retry))
    if status in (400, 403) and any(marker in description.lower() for marker in _GONE):
        raise ChatGone(description, status=status)
    raise BotApiError(description, status=status, transient=status >= 500)
