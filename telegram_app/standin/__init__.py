"""A local stand-in for the Telegram Bot API (tests, benchmarks, botshell and the local demo)."""

from telegram_app.standin.server import BotApiStandin

__all__ = ["BotApiStandin"]
