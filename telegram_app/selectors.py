"""Reads the bot renders, always scoped to one trader (through trading.selectors): nobody sees another's things."""

from __future__ import annotations

from telegram_app.models import TelegramAccount


def account_by_user(*, telegram_user_id: int) -> TelegramAccount | None:
    return TelegramAccount.objects.filter(telegram_user_id=telegram_user_id).select_related("trader").first()


def positions_open(*, trader, limit: int = 20) -> list:
    from trading.selectors import position_list_open

    return list(position_list_open(trader=trader)[:limit])


def position_of(*, trader, position_id: int):
    """The trader's own position, or None: a foreign or unknown id looks the same."""
    from trading.errors import NotFound
    from trading.selectors import position_get

    try:
        return position_get(trader=trader, position_id=int(position_id))
    except NotFound:
        return None


def position_value_lamports(position) -> int | None:
    """What the position is worth at the cached price, or None without a price (never zero)."""
    from trading.selectors import position_value_lamports as value, price_get

    point = price_get(mint=position.token.mint)
    return None if point is None else value(position=position, price=point.price)
