"""Reads the bot renders, always scoped to one trader: nobody sees another's things.

The commands traders send most (/positions, /wallet, /pnl, and the account lookup every update starts with)
read through `CompiledRead`: the ORM builds each query once per process, later calls only run its SQL with
new parameters. On the bot's hot path compiling a query cost more CPU than Postgres spent answering it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace

from django.db import connections

from telegram_app.models import ConversationState, TelegramAccount

# Stand in for parameters while the ORM compiles; unlike any id, user id, amount or time a query is run with.
_MARK = -7_654_321_987_654_321
_TIME_MARKS = tuple(datetime(1901, 2, 3, 4, 5, second, 678_901, tzinfo=dt_timezone.utc) for second in range(1, 4))


class CompiledRead:
    """``build(*marks)`` returns a queryset filtered on ``marks``; calling the CompiledRead with values runs that
    queryset's SQL with each value in place of its mark's parameters, converters applied as the ORM would.
    ``marks`` defaults to one integer mark; datetime parameters take marks from ``_TIME_MARKS``."""

    def __init__(self, build, *, using: str = "default", marks: tuple = (_MARK,)):
        self.build, self.using, self.marks = build, using, marks
        self._compiled: dict[str, tuple] = {}

    def _compile(self, connection) -> tuple:
        query = self.build(*self.marks).query
        compiler = query.get_compiler(using=self.using)
        sql, params = compiler.as_sql()
        slots = [(i, k) for i, p in enumerate(params) for k, mark in enumerate(self.marks)
                 if type(p) is type(mark) and p == mark]
        if {k for _, k in slots} != set(range(len(self.marks))):
            raise ValueError("the query does not use each of its parameters")
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        return sql, list(params), slots, compiler, converters

    def __call__(self, *values) -> list[tuple]:
        connection = connections[self.using]
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            compiled = self._compiled[connection.vendor] = self._compile(connection)
        sql, params, slots, compiler, converters = compiled
        params = list(params)
        for i, k in slots:
            params[i] = values[k]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return list(compiler.apply_converters(rows, converters)) if converters else rows


# --- the account every update starts from -----------------------------------------------------------------
def _account_query(mark):
    from django.db.models import OuterRef, Subquery

    state = ConversationState.objects.filter(telegram_user_id=OuterRef("telegram_user_id"))
    return (TelegramAccount.objects.filter(telegram_user_id=mark)
            .annotate(conv_state=Subquery(state.values("state")[:1]), conv_data=Subquery(state.values("data")[:1]))
            .values_list(*_ACCOUNT_FIELDS, *(f"trader__{name}" for name in _trader_fields()), "conv_state", "conv_data"))


_ACCOUNT_FIELDS = tuple(f.attname for f in TelegramAccount._meta.concrete_fields)


def _trader_fields() -> tuple[str, ...]:
    from trading.models import Trader

    return tuple(f.attname for f in Trader._meta.concrete_fields)


_account_read = CompiledRead(_account_query)


def account_with_state(*, telegram_user_id: int) -> tuple[TelegramAccount | None, str, dict]:
    """(account with its trader, conversation state, its data) in one query; (None, "", {}) when unknown."""
    from trading.models import Trader

    rows = _account_read(int(telegram_user_id))
    if not rows:
        return None, "", {}
    row = rows[0]
    n = len(_ACCOUNT_FIELDS)
    trader_fields = _trader_fields()
    trader = Trader.from_db("default", trader_fields, row[n:n + len(trader_fields)])
    account = TelegramAccount.from_db("default", _ACCOUNT_FIELDS, row[:n])
    account.trader = trader
    state, data = row[-2] or "", row[-1]
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    return account, state, data or {}


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


def _positions_query(mark):
    from trading.models import Position
    from trading.models.choices import POSITION_LIVE

    return (Position.objects.filter(trader_id=mark, status__in=POSITION_LIVE).order_by("-id")
            .values_list(*_POSITION_FIELDS)[:LIST_LIMIT])


_positions_read = CompiledRead(_positions_query)


def positions_open(*, trader) -> list[PositionRow]:
    """The trader's opening, open and closing positions, newest first (at most LIST_LIMIT): one query."""
    return [PositionRow(pk=pk, status=status, size=size, cost_lamports=cost,
                        token=SimpleNamespace(mint=mint, symbol=symbol, decimals=decimals))
            for pk, status, size, cost, mint, symbol, decimals in _positions_read(trader.pk)]


def position_values_lamports(positions) -> dict[int, int | None]:
    """Position id -> worth at the cached price (one Redis round trip for all), None without a price (never zero)."""
    from trading.selectors import position_value_lamports as value
    from trading.prices import prices_get_many

    prices = prices_get_many(mints=list({p.token.mint for p in positions}))
    return {p.pk: (value(position=p, price=prices[p.token.mint].price) if p.token.mint in prices else None)
            for p in positions}


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
    return position_values_lamports([position])[position.pk]


# --- PnL ----------------------------------------------------------------------------------------------------
def _realised_query(trader_mark, day_mark, week_mark):
    from django.db.models import Q, Sum

    from trading.models import Order, OrderSide, OrderStatus

    return (Order.objects.filter(position__trader_id=trader_mark, side=OrderSide.SELL, status=OrderStatus.CONFIRMED)
            .values("position__trader_id")
            .annotate(today=Sum("realised_pnl_lamports", filter=Q(confirmed_at__gte=day_mark)),
                      week=Sum("realised_pnl_lamports", filter=Q(confirmed_at__gte=week_mark)),
                      all=Sum("realised_pnl_lamports"))
            .values_list("today", "week", "all").order_by())


def _held_query(mark):
    from trading.models import Position
    from trading.models.choices import POSITION_LIVE

    return (Position.objects.filter(trader_id=mark, status__in=POSITION_LIVE, size__gt=0)
            .values_list("size", "cost_lamports", "token__mint", "token__decimals"))


_realised_read = CompiledRead(_realised_query, marks=(_MARK, *_TIME_MARKS[:2]))
_held_read = CompiledRead(_held_query)


def pnl_summary(*, trader) -> dict:
    """trading.selectors.pnl_summary's figures (same periods, same prices, same rounding) from two compiled
    reads: realised PnL today / this week / all time (UTC), unrealised PnL of the open positions at cached
    prices, positions without a price counted in ``unpriced_positions``."""
    from django.utils import timezone

    from trading.prices import prices_get_many
    from trading.selectors import position_value_lamports

    now = timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = day - timedelta(days=day.weekday())
    rows = _realised_read(trader.pk, day, week)
    today, this_week, all_time = rows[0] if rows else (None, None, None)
    held = [SimpleNamespace(size=size, cost_lamports=cost, token=SimpleNamespace(mint=mint, decimals=decimals))
            for size, cost, mint, decimals in _held_read(trader.pk)]
    prices = prices_get_many(mints=list({p.token.mint for p in held}))
    gains = [position_value_lamports(position=p, price=prices[p.token.mint].price) - p.cost_lamports
             for p in held if p.token.mint in prices]
    unrealised = sum(gains)
    realised = {"today": today, "week": this_week, "all": all_time}
    figures: dict = {period: {"realised_lamports": value or 0, "unrealised_lamports": unrealised}
                     for period, value in realised.items()}
    figures["unpriced_positions"] = len(held) - len(gains)
    return figures
