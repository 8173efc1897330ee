"""Reads the bot renders, always scoped to one trader: nobody sees another's things. Figures (values, PnL) come
from the trading core's selectors, so the bot and the API never disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

from django.db.models import OuterRef, Subquery

from telegram_app.models import ConversationState, TelegramAccount
from trading import selectors as core
from trading.errors import NotFound
from trading.models import Position
from trading.models.choices import POSITION_LIVE
from trading.prices import prices_get_many


# --- the account every update starts from -----------------------------------------------------------------
def account_with_state(*, telegram_user_id: int) -> tuple[TelegramAccount | None, str, dict]:
    """(account with its trader, conversation state, its data) in one query; (None, "", {}) when unknown."""
    state = ConversationState.objects.filter(telegram_user_id=OuterRef("telegram_user_id"))
    account = (TelegramAccount.objects.filter(telegram_user_id=int(telegram_user_id)).select_related("trader")
               .annotate(conv_state=Subquery(state.values("state")[:1]), conv_data=Subquery(state.values("data")[:1]))
               .first())
    if account is None:
        return None, "", {}
    data = account.conv_data
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    return account, account.conv_state or "", data or {}


def account_by_user(*, telegram_user_id: int) -> TelegramAccount | None:
    return account_with_state(telegram_user_id=telegram_user_id)[0]


# --- positions ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PositionRow:
    """What the lists show of a position: enough for a line and its buttons, nothing to act on."""

    pk: int
    status: str
    size: int
    cost_lamports: int
    token: SimpleNamespace  # mint, symbol, decimals


_POSITION_FIELDS = ("id", "status", "size", "cost_lamports", "token__mint", "token__symbol", "token__decimals")
LIST_LIMIT = 20


def positions_open(*, trader) -> list[PositionRow]:
    """The trader's opening, open and closing positions, newest first (at most LIST_LIMIT): one query."""
    rows = (Position.objects.filter(trader_id=trader.pk, status__in=POSITION_LIVE).order_by("-id")
            .values_list(*_POSITION_FIELDS)[:LIST_LIMIT])
    return [PositionRow(pk=pk, status=status, size=size, cost_lamports=cost,
                        token=SimpleNamespace(mint=mint, symbol=symbol, decimals=decimals))
            for pk, status, size, cost, mint, symbol, decimals in rows]


def position_values_lamports(positions) -> dict[int, int | None]:
    """Position id -> worth at the cached price (one Redis round trip for all), None without a price (never zero)."""
    prices = prices_get_many(mints=list({p.token.mint for p in positions}))
    return {p.pk: (core.position_value_lamports(position=p, price=prices[p.token.mint].price)
                   if p.token.mint in prices else None)
            for p in positions}


CLOSED_SHOWN = 5


def positions_closed(*, trader, limit: int = CLOSED_SHOWN) -> list[PositionRow]:
    """The trader's most recently closed positions (at most `limit`), newest first: one query."""
    rows = (Position.objects.filter(trader_id=trader.pk, status="closed").order_by("-closed_at", "-id")
            .values_list(*_POSITION_FIELDS)[:limit])
    return [PositionRow(pk=pk, status=status, size=size, cost_lamports=cost,
                        token=SimpleNamespace(mint=mint, symbol=symbol, decimals=decimals))
            for pk, status, size, cost, mint, symbol, decimals in rows]


def position_of(*, trader, position_id: int):
    """The trader's own position, or None: a foreign or unknown id looks the same."""
    try:
        return core.position_get(trader=trader, position_id=int(position_id))
    except NotFound:
        return None


def position_value_lamports(position) -> int | None:
    """What the position is worth at the cached price, or None without a price (never zero)."""
    return position_values_lamports([position])[position.pk]
