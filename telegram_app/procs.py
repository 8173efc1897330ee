"""The bot's processes for `make run`: the Bot API stand-in when no token is configured, and the bot."""

from __future__ import annotations


def processes(python: str) -> dict[str, str]:
    from django.conf import settings

    procs = {}
    if not settings.TELEGRAM_BOT_TOKEN:
        procs["telegram-standin"] = f"{python} {settings.BASE_DIR / 'manage.py'} telegram_standin"
    procs["bot"] = f"{python} {settings.BASE_DIR / 'manage.py'} runbot"
    return procs
