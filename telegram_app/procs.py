"""The bot's process for `make run` (the Bot API stand-in, when no token is configured, comes from sandbox.procs)."""

from __future__ import annotations

from django.conf import settings


def processes(python: str) -> dict[str, str]:
    return {"bot": f"{python} {settings.BASE_DIR / 'manage.py'} runbot"}
