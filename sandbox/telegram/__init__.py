"""A local stand-in for the Telegram Bot API (tests, benchmarks, botshell and the local demo)."""

from sandbox.telegram.server import BotApiStandin

__all__ = ["BotApiStandin"]
