"""A trader's book in one query: everything an entry decision reads (kill switches, risk limits, open
positions, today's volume and losses, paper money, the trader's settings and active wallet, the token being bought),
fetched with the lock that serialises the trader's entries."""

from __future__ import annotations

import functools
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from trading.models import (
    KillSwitch,
    Mode,
    Order,
    PaperLedger,
    Position,
    RiskLimits,
    Token,
    Trader,
    TradingSettings,
    Wallet,
)
from trading.models.choices import POSITION_LIVE

LIMIT_FIELDS = ("max_trade_lamports", "max_open_positions", "daily_loss_limit_lamports", "daily_volume_cap_lamports")


@functools.cache
def _book_sql(*, lock: bool) -> str:
    """One statement, scalar subqueries on the (trader, status) and (trader, created_at) indexes; portable SQL
    (FOR UPDATE only where the database has it). Hand-written: Django spends longer compiling the same query
    as an annotated queryset than Postgres spends running it, and this is the hot path of every buy."""
    models = (KillSwitch, Order, PaperLedger, Position, RiskLimits, Token, Trader, TradingSettings, Wallet)
    t = {m.__name__: m._meta.db_table for m in models}
    live = "(" + ", ".join(f"'{status}'" for status in POSITION_LIVE) + ")"  # constants, not input
    pos = f"FROM {t['Position']} p WHERE p.trader_id = l.trader_id AND p.status IN {live}"
    limits = ", ".join(f"r.{f}, g.{f}" for f in LIMIT_FIELDS)
    sql = f"""
        SELECT l.id, l.start_balance_lamports, l.realised_pnl_lamports, l.withdrawn_lamports, tr.is_paused,
            EXISTS (SELECT 1 FROM {t['KillSwitch']} k WHERE k.trader_id IS NULL AND k.enabled),
            EXISTS (SELECT 1 FROM {t['KillSwitch']} k WHERE k.trader_id = l.trader_id AND k.enabled),
            (SELECT COUNT(*) {pos}),
            (SELECT COALESCE(SUM(p.cost_lamports + p.rent_lamports), 0) {pos} AND p.mode = 'paper'),
            (SELECT COALESCE(SUM(p.cost_lamports), 0) {pos} AND p.mode = 'sandbox' AND p.status = 'opening'),
            (SELECT COALESCE(SUM(p.cost_lamports), 0) {pos} AND p.mode = 'live' AND p.status = 'opening'),
            (SELECT COALESCE(SUM(o.amount_in), 0) FROM {t['Order']} o WHERE o.trader_id = l.trader_id
                AND o.created_at >= %(day)s AND o.side = 'buy' AND o.status <> 'failed'),
            (SELECT COALESCE(SUM(o.realised_pnl_lamports), 0) FROM {t['Order']} o WHERE o.trader_id = l.trader_id
                AND o.created_at >= %(since)s AND o.side = 'sell' AND o.status = 'confirmed' AND o.confirmed_at >= %(day)s),
            {limits},
            {", ".join(f"st.{f}" for f in SETTINGS_FIELDS)},
            {", ".join(f"w.{f}" for f in WALLET_FIELDS)},
            {", ".join(f"tk.{f}" for f in TOKEN_FIELDS)}
        FROM {t['PaperLedger']} l
        JOIN {t['Trader']} tr ON tr.id = l.trader_id
        LEFT JOIN {t['RiskLimits']} r ON r.trader_id = l.trader_id
        LEFT JOIN {t['RiskLimits']} g ON g.trader_id IS NULL
        LEFT JOIN {t['TradingSettings']} st ON st.trader_id = l.trader_id
        LEFT JOIN {t['Wallet']} w ON w.id = (SELECT w1.id FROM {t['Wallet']} w1 WHERE w1.trader_id = l.trader_id
                                         ORDER BY w1.active DESC, w1.id LIMIT 1)
        LEFT JOIN {t['Token']} tk ON tk.mint = %(mint)s
        WHERE l.trader_id = %(trader)s"""
    if lock and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF l"
    return sql


_COLUMNS = (
    "id", "start_balance_lamports", "realised_pnl_lamports", "withdrawn_lamports", "is_paused", "kill_global", "kill_trader", "live_count",
    "paper_open_cost", "sandbox_opening", "live_opening", "volume_today", "realised_today",
    *(f"{scope}_{field}" for field in LIMIT_FIELDS for scope in ("own", "global")),
)
# Rows an entry needs besides the figures, read by the same statement (columns are the models' own field names).
SETTINGS_FIELDS = (
    "id", "trader_id", "mode", "buy_slippage_bps", "sell_slippage_bps", "priority_fee_policy", "priority_fee_max_lamports",
    "mev_protection", "default_exit_plan",
)  # in the model's field order (Model.from_db fills the fields not read as deferred, in that order)
WALLET_FIELDS = ("id", "trader_id", "public_key", "key_id")
TOKEN_FIELDS = ("id", "mint", "symbol", "name", "decimals", "token_program")
_ROWS = ((TradingSettings, "settings", SETTINGS_FIELDS), (Wallet, "wallet", WALLET_FIELDS), (Token, "token", TOKEN_FIELDS))


def _instance(model, fields: tuple[str, ...], values: tuple):
    """A model instance from raw columns (None when the LEFT JOIN found no row); fields not read stay deferred."""
    if values[0] is None:
        return None
    attnames, converters = _loading(model, fields)
    converted = [
        convert(value, None, connection) if convert is not None and value is not None else value
        for convert, value in zip(converters, values)
    ]
    return model.from_db(connection.alias, attnames, converted)


@functools.cache
def _loading(model, fields: tuple[str, ...]) -> tuple[list[str], list]:
    """The attnames of `fields` and each field's from_db_value (or None)."""
    found = [model._meta.get_field(name) for name in fields]
    return [f.attname for f in found], [getattr(f, "from_db_value", None) for f in found]


def trader_book(*, trader: Trader, lock: bool = False, mint: str | None = None) -> tuple[PaperLedger, dict]:
    """The paper ledger (row-locked when `lock`) and what risk checks and balances need, in one statement.

    Also in the book: "settings" (the trader's TradingSettings, or None if the row is missing), "wallet" (the active
    wallet, as trading.selectors.wallet_active_get chooses it, or None) and "token" (the Token of `mint`, or None if
    unknown), loaded with the fields an entry uses.
    Today is UTC. Realised PnL today counts sells confirmed today that were placed since yesterday (exits fill
    within minutes; the bound keeps the scan on the (trader, created_at) index).
    """
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    adapt = connection.ops.adapt_datetimefield_value
    params = {"day": adapt(day), "since": adapt(day - timedelta(days=1)), "trader": trader.pk, "mint": mint}
    with connection.cursor() as cursor:
        cursor.execute(_book_sql(lock=lock), params)
        row = cursor.fetchone()
    if row is None:
        PaperLedger.objects.get_or_create(
            trader=trader, defaults={"start_balance_lamports": settings.PAPER_START_BALANCE_LAMPORTS}
        )
        return trader_book(trader=trader, lock=lock, mint=mint)
    book = dict(zip(_COLUMNS, row[: len(_COLUMNS)]))
    start = len(_COLUMNS)
    for model, key, fields in _ROWS:
        book[key] = _instance(model, fields, row[start : start + len(fields)])
        start += len(fields)
    ledger = PaperLedger(
        id=book.pop("id"),
        trader_id=trader.pk,
        start_balance_lamports=book.pop("start_balance_lamports"),
        realised_pnl_lamports=book.pop("realised_pnl_lamports"),
        withdrawn_lamports=book.pop("withdrawn_lamports"),
    )
    book["kill_global"], book["kill_trader"] = bool(book["kill_global"]), bool(book["kill_trader"])
    book["is_paused"] = bool(book["is_paused"])
    book["opening_cost"] = {Mode.SANDBOX: book.pop("sandbox_opening"), Mode.LIVE: book.pop("live_opening")}
    return ledger, book


def paper_balance_from(*, ledger: PaperLedger, book: dict) -> int:
    """start + realised PnL - withdrawn - cost and token account rent of open positions (paper mode), in lamports."""
    return (ledger.start_balance_lamports + ledger.realised_pnl_lamports - ledger.withdrawn_lamports
            - book["paper_open_cost"])
