"""Trading domain events and monitoring alerts turned into outbox messages, exactly once each.

A trading event is claimed by setting its ``delivered_at`` with a compare-and-swap in the same
transaction that writes the outbox row (whose ``dedupe_key`` is unique as a second guard); the periodic
sweep delivers events a crash left undelivered. Alerts go to every admin chat, keyed by event and state.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from telegram_app.callbacks import callback_key, cb_sign
from telegram_app.models import TelegramAccount
from telegram_app.outbox import outbox_enqueue
from telegram_app.parsers import format_sol

logger = logging.getLogger(__name__)
REASONS = {"tp": "Take-profit", "sl": "Stop-loss", "trailing": "Trailing stop", "time": "Time stop",
           "kill": "Kill switch", "manual": "Your sell", "limit": "Limit sell", "dca": "DCA",
           "launch": "Launch watch"}


def _pnl(lamports: int) -> str:
    return ("+" if lamports > 0 else "") + format_sol(lamports) + " SOL"


def _costs(p: dict) -> str:
    """The fill's network fee and token account rent, each apart from the amount (a line, or "" for neither)."""
    fee, rent = int(p.get("fee_lamports") or 0), int(p.get("rent_lamports") or 0)
    parts = [f"fees {format_sol(fee)} SOL"] if fee else []
    if rent > 0:
        parts.append(f"rent {format_sol(rent)} SOL for the new token account (back when you sell it all)")
    elif rent < 0:
        parts.append(f"rent back {format_sol(-rent)} SOL (the emptied token account was closed)")
    line = "; ".join(parts)
    return f"{line[:1].upper()}{line[1:]}\n" if line else ""


def event_text(kind: str, p: dict) -> str | None:
    symbol = p.get("symbol") or (p.get("mint") or "")[:6]
    if kind == "position.opened":
        return (f"✅ Bought {symbol}: {format_sol(int(p.get('amount_lamports') or p.get('cost_lamports') or 0))} SOL at "
                f"{Decimal(p.get('entry_price') or 0):.10g} SOL each ({p.get('mode', 'paper')}).\n"
                f"{_costs(p)}"
                f"Exit plan: {p.get('plan', '')}\n/positions to manage it.")
    if kind == "exit.filled":
        reason = REASONS.get(p.get("reason"), "Exit")
        leg = f" (leg {int(p['leg']) + 1})" if p.get("leg") is not None else ""
        left = "position closed" if not p.get("remaining_size") else "rest still open"
        return (f"💰 {reason}{leg} filled on {symbol}: received {format_sol(int(p.get('received_lamports') or 0))} SOL, "
                f"PnL {_pnl(int(p.get('realised_pnl_lamports') or 0))}; {left}.\n{_costs(p)}"
                f"Plan: {p.get('plan', '')}")
    if kind == "position.closed":
        return (f"🏁 {symbol} position closed. Realised PnL {_pnl(int(p.get('total_realised_pnl_lamports') or 0))}."
                "\nShare card: a picture of the result to forward.")
    if kind == "order.failed":
        side = {"buy": "buy", "withdraw": "withdrawal"}.get(p.get("side"), "sell")
        return f"⚠️ Your {side} of {symbol} did not go through: {str(p.get('error') or 'unknown error')[:200]}. Nothing else changed."
    if kind == "order.delayed":
        side = {"buy": "buy", "withdraw": "withdrawal"}.get(p.get("side"), "sell")
        return (f"⏳ Your {side} of {symbol} is accepted but delayed: the desk could not queue it just now. It is kept "
                "and goes through as soon as the desk can take work again; you will get a message then.")
    if kind == "exit.stuck":
        return f"⚠️ An exit on {symbol} is taking longer than it should. The desk keeps trying; operators are alerted."
    if kind == "limit.ended":
        what = "limit buy" if p.get("side") == "buy" else "limit sell"
        head = "⌛" if p.get("status") == "expired" else "🚫"
        return (f"{head} Your {what} #{p.get('limit_id')} of {symbol} at {Decimal(p.get('price') or 0):.10g} SOL "
                f"is {p.get('status', 'cancelled')}. {str(p.get('note') or '')[:300]}")
    if kind == "dca.notice":
        status = p.get("status")
        head = {"done": "✅", "stopped": "🛑", "paused": "⏸", "refused": "⚠️"}.get(status, "ℹ️")
        return (f"{head} DCA #{p.get('plan_id')} on {symbol} ({p.get('buys_done', 0)} of {p.get('buys_total', 0)} buys, "
                f"{format_sol(int(p.get('spent_lamports') or 0))} SOL): {str(p.get('note') or '')[:300]}")
    if kind == "withdrawal.landed":
        decimals = int(p.get("decimals") or 9)
        whole, frac = divmod(int(p.get("sent") or 0), 10**decimals)
        sent = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)
        return (f"📤 Withdrawal landed: {sent} {symbol} sent to {p.get('destination', '')} ({p.get('mode', '')}); "
                f"fees and rent {format_sol(int(p.get('fee_lamports') or 0))} SOL.")
    if kind == "launch.notice":
        when = "graduated (migrated to its pool)" if p.get("status") == "graduated" else "launched"
        head = "🎓" if p.get("status") == "graduated" else "🚀"
        note = str(p.get("note") or "")[:300]
        return f"{head} {symbol} {when} on bags.fm." + (f" {note}" if note else "")
    if kind == "wallet.exported":
        return "🔐 Your wallet's private key was exported. If this was not you, move your funds now."
    return None


def _wants(kind: str, prefs: dict | None) -> bool:
    if kind in ("order.failed", "order.delayed", "exit.stuck", "wallet.exported", "withdrawal.landed", "limit.ended",
                "dca.notice", "launch.notice"):
        return True  # failures and security notices are always sent
    return (prefs or {}).get("enabled", True) is not False


def event_markup(kind: str, p: dict, telegram_user_id: int | None) -> dict | None:
    """A closed position's message carries the button that sends its PnL card, signed for the trader's Telegram user
    (valid for a day, like any button)."""
    if kind != "position.closed" or not telegram_user_id or not p.get("position_id"):
        return None
    data = cb_sign(key=callback_key(), user_id=int(telegram_user_id), action="cc", args=(int(p["position_id"]),),
                   now=time.time())
    return {"inline_keyboard": [[{"text": "📸 Share card", "callback_data": data}]]}


def _claim(event_id: int) -> tuple[str, dict, int | None, dict | None, int | None] | None:
    """Mark the event delivered if it is not yet (the compare-and-swap that makes delivery happen once) and read, in
    the same transaction, what the message needs: (kind, payload, the trader's chat id or None, their notification
    settings, their Telegram user id). None if another delivery had it. Two statements (UPDATE ... RETURNING, one joined read) on every
    backend the desk runs on (Postgres; SQLite 3.35 and later)."""
    DomainEvent = apps.get_model("trading", "DomainEvent")
    TradingSettings = apps.get_model("trading", "TradingSettings")
    quote = connection.ops.quote_name
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(DomainEvent._meta.db_table)} SET delivered_at = %s WHERE id = %s AND delivered_at IS NULL "
            "RETURNING kind, trader_id, payload",
            [now, event_id],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        kind, trader_id, payload = row
        chat_id = prefs = user_id = None
        if trader_id is not None:
            cursor.execute(
                f"SELECT a.chat_id, s.notifications, a.telegram_user_id FROM {quote(TelegramAccount._meta.db_table)} a "
                f"LEFT JOIN {quote(TradingSettings._meta.db_table)} s ON s.trader_id = a.trader_id WHERE a.trader_id = %s",
                [trader_id],
            )
            found = cursor.fetchone()
            if found is not None:
                chat_id, prefs, user_id = found
    payload = DomainEvent._meta.get_field("payload").from_db_value(payload, None, connection)
    if prefs is not None:
        prefs = TradingSettings._meta.get_field("notifications").from_db_value(prefs, None, connection)
    return kind, payload, chat_id, prefs, user_id


def on_trading_event(event_id: int) -> None:
    with transaction.atomic():
        claimed = _claim(event_id)
        if claimed is None:
            return
        kind, payload, chat_id, prefs, user_id = claimed
        if chat_id is None or not _wants(kind, prefs):
            return
        text = event_text(kind, payload or {})
        if text:
            outbox_enqueue(chat_id=chat_id, text=text, kind=kind, dedupe_key=f"event:{event_id}",
                           reply_markup=event_markup(kind, payload or {}, user_id))


def events_redeliver(*, older_than: timedelta = timedelta(seconds=20)) -> int:
    DomainEvent = apps.get_model("trading", "DomainEvent")
    ids = list(DomainEvent.objects.filter(delivered_at__isnull=True, created_at__lt=timezone.now() - older_than)
               .order_by("id").values_list("pk", flat=True)[:1000])
    for event_id in ids:
        on_trading_event(event_id)
    return len(ids)


def on_alert(alert_event_id: int) -> None:
    try:
        AlertEvent = apps.get_model("monitoring", "AlertEvent")
    except LookupError:
        return
    alert = AlertEvent.objects.filter(pk=alert_event_id).first()
    if alert is None:
        return
    state = alert.state
    text = ("✅ " if state == "resolved" else "🚨 ") + alert.text()
    with transaction.atomic():
        for admin_id in settings.TELEGRAM_ADMIN_IDS:
            # A changed cause is told again (monitoring.alerts._recur): one message per occurrence count.
            again = f":{alert.count}" if state == "firing" and alert.count > 1 else ""
            outbox_enqueue(chat_id=admin_id, text=text, kind="alert",
                           dedupe_key=f"alert:{alert_event_id}:{state}{again}:{admin_id}")
