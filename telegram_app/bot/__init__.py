"""The bot: a synchronous router (parse, call one service, render) behind a thin python-telegram-bot layer."""
