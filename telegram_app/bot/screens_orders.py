"""Screens: limit orders (/limit), DCA plans (/dca), launch watches (/watch) and the list of all three with their
buttons (/orders)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from telegram_app import services
from telegram_app.bot.core import Screen
from telegram_app.parsers import ParseError, format_sol, parse_duration, parse_mint, parse_percent, parse_sol_amount
from trading.errors import TokenRisk
from trading.ratelimit import Priority, call_priority
from trading.selectors import launch_watches_live, standing_orders
from trading.services import token_safety_check
from trading.services.launches import launch_watch_cancel, launch_watch_create
from trading.services.safety import risk_names
from trading.services.standing import (
    dca_create,
    dca_set_state,
    limit_buy_create,
    limit_cancel,
    limit_sell_create,
)

DEFAULT_EXPIRY_S = 24 * 3600
LIMIT_USAGE = ("Limit orders:\n"
               "/limit buy <mint> <SOL> <price> [expiry] – buy when the price falls to <price> (or rises to it, if it "
               "is above the current price: a breakout)\n"
               "/limit sell <position #> <percent> <price> [expiry] – sell a share of a position at <price>\n"
               "Price in SOL per token; expiry like 30m, 12h or 7d (default 24h). /orders lists and cancels them.")
DCA_USAGE = ("DCA: /dca <mint> <SOL> <buys> <interval> [max <price>] [cap <SOL>]\n"
             "Buys <SOL> of the token <buys> times, one buy every <interval> (like 10m, 4h, 1d). Stops early when the "
             "price is above max, or when another buy would take the total past cap. /orders pauses, resumes, cancels.")

WATCH_USAGE = ("Launch watch: /watch <mint> [buy <SOL> on launch|graduation] [ceiling <price>]\n"
               "Follows a bags.fm launch and tells you when it graduates (migrates to its pool). With buy, buys <SOL> of "
               "it when it launches or when it graduates, unless the price is above ceiling (SOL per token). "
               "/orders lists and cancels watches.")


def _price(value) -> str:
    return f"{Decimal(value).normalize():.6g}"


def _symbol(token) -> str:
    return token.symbol or token.mint[:6]


def _expiry(args: list[str]) -> timedelta:
    return timedelta(seconds=parse_duration(args[0]) if args else DEFAULT_EXPIRY_S)


def _safety(account, mint: str) -> None:
    """A buy the trader places now and that fires later: the token's card must pass without accepting anything."""
    try:
        with call_priority(Priority.PREVIEW):
            token_safety_check(trader=account.trader, mint=mint)
    except TokenRisk as exc:
        if exc.code != "token_risk_unaccepted":
            raise
        raise ParseError(f"This token has critical risks ({risk_names(exc.to_accept)}); standing orders cannot accept "
                         "them. Buy it at market with the confirmation instead.", "risk_unaccepted") from None


def limit(account, inc, *args):
    if len(args) < 4 or args[0].lower() not in ("buy", "sell"):
        return Screen(LIMIT_USAGE)
    side, rest = args[0].lower(), list(args[1:])
    expires_at = timezone.now() + _expiry(rest[3:])
    if side == "buy":
        mint, lamports = parse_mint(rest[0]), parse_sol_amount(rest[1])
        _safety(account, mint)
        order = limit_buy_create(trader=account.trader, mint=mint, amount_lamports=lamports, price=rest[2],
                                 expires_at=expires_at)
        what = f"buy {format_sol(lamports)} SOL of {_symbol(order.token)}"
    else:
        try:
            position_id = int(rest[0].lstrip("#"))
        except ValueError:
            raise ParseError("Give the position's number, like 12 (see /positions).", "bad_position") from None
        percent = parse_percent(rest[1])
        order = limit_sell_create(trader=account.trader, position_id=position_id, percent=percent, price=rest[2],
                                  expires_at=expires_at)
        what = f"sell {percent}% of position #{position_id} ({_symbol(order.token)})"
    way = "falls to" if order.direction == "below" else "rises to"
    return (Screen(f"Limit order #{order.pk} placed: {what} when the price {way} {_price(order.price)} SOL. "
                   f"It expires {order.expires_at:%Y-%m-%d %H:%M} UTC.")
            .row(("Cancel it", "lx", order.pk), ("« Orders", "or")))


def _option(args: list[str], name: str) -> str | None:
    lowered = [a.lower() for a in args]
    if name not in lowered:
        return None
    at = lowered.index(name)
    if at + 1 >= len(args):
        raise ParseError(f"Give a value after '{name}'.", "missing_value")
    return args[at + 1]


def dca(account, inc, *args):
    if len(args) < 4:
        return Screen(DCA_USAGE)
    mint, lamports = parse_mint(args[0]), parse_sol_amount(args[1])
    try:
        buys = int(args[2])
    except ValueError:
        raise ParseError("Give the number of buys as a whole number, like 5.", "bad_buys") from None
    interval = parse_duration(args[3])
    extra = list(args[4:])
    ceiling = _option(extra, "max")
    cap_text = _option(extra, "cap")
    cap = parse_sol_amount(cap_text) if cap_text is not None else None
    _safety(account, mint)
    plan = dca_create(trader=account.trader, mint=mint, amount_lamports=lamports, buys=buys, interval_seconds=interval,
                      price_ceiling=ceiling, spend_cap_lamports=cap)
    return (Screen(f"DCA #{plan.pk} started: {plan.buys_total} buys of {format_sol(lamports)} SOL of "
                   f"{_symbol(plan.token)}, one every {_duration(interval)}; the first now.{_stops(plan)}")
            .row(("Pause", "dp", plan.pk), ("Cancel", "dx", plan.pk)))


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _stops(plan) -> str:
    parts = []
    if plan.price_ceiling is not None:
        parts.append(f"the price above {_price(plan.price_ceiling)} SOL")
    if plan.spend_cap_lamports is not None:
        parts.append(f"{format_sol(plan.spend_cap_lamports)} SOL spent")
    return f" Stops at {' or '.join(parts)}." if parts else ""


def watch(account, inc, *args):
    if not args:
        return Screen(WATCH_USAGE)
    mint, rest = parse_mint(args[0]), list(args[1:])
    words = {"buy": None, "on": None, "ceiling": None}
    while rest:
        word = rest.pop(0).lower()
        if word not in words or words[word] is not None:
            raise ParseError(f"'{word}' is not part of a watch. " + WATCH_USAGE, "bad_watch")
        if not rest:
            raise ParseError(f"Give a value after '{word}'.", "missing_value")
        words[word] = rest.pop(0)
    buy_on = (words["on"] or "").lower()
    if words["buy"] is not None and buy_on not in ("launch", "graduation"):
        raise ParseError("Say when to buy: buy <SOL> on launch, or buy <SOL> on graduation.", "bad_buy_on")
    if words["buy"] is None and (words["on"] is not None or words["ceiling"] is not None):
        raise ParseError("'on' and 'ceiling' go with a buy: buy <SOL> on launch|graduation [ceiling <price>].",
                         "amount_without_buy")
    lamports = parse_sol_amount(words["buy"]) if words["buy"] is not None else None
    if lamports is not None:
        _safety(account, mint)
    w = launch_watch_create(trader=account.trader, mint=mint, buy_on=buy_on or "none", amount_lamports=lamports,
                            price_ceiling=words["ceiling"])
    return (Screen(f"Watching {w.symbol or w.mint[:6]} (watch #{w.pk}): you are told when it graduates.{_watch_buy(w)}")
            .row(("Cancel it", "lw", w.pk), ("« Orders", "or")))


def _watch_buy(w) -> str:
    if w.buy_on == "none":
        return ""
    ceiling = f" if the price is at most {_price(w.price_ceiling)} SOL" if w.price_ceiling is not None else ""
    return f" It buys {format_sol(w.amount_lamports)} SOL of it on {w.buy_on}{ceiling}."


def orders(account, inc, *args, note: str = ""):
    limits, plans = standing_orders(trader=account.trader)
    watches = launch_watches_live(trader=account.trader)
    if not limits and not plans and not watches:
        return Screen(f"{note}\n" * bool(note) + "You have no limit orders, DCA plans or launch watches.\n\n"
                      + LIMIT_USAGE)
    screen = Screen(f"{note}\n" * bool(note) + "Your orders:")
    for o in limits:
        what = (f"buy {format_sol(o.amount_lamports)} SOL" if o.side == "buy"
                else f"sell {o.percent.normalize():f}% of #{o.position_id}")
        way = "≤" if o.direction == "below" else "≥"
        screen.text += (f"\nLimit #{o.pk}: {what} of {_symbol(o.token)} at {way} {_price(o.price)} SOL, "
                        f"expires {o.expires_at:%m-%d %H:%M} UTC")
        screen.button(f"Cancel limit #{o.pk}", "lx", o.pk)
    for p in plans:
        screen.text += (f"\nDCA #{p.pk} ({p.state}): {format_sol(p.amount_lamports)} SOL of {_symbol(p.token)} every "
                        f"{_duration(p.interval_seconds)}, {p.buys_done} of {p.buys_total} bought, "
                        f"{format_sol(p.spent_lamports)} SOL spent.{_stops(p)}")
        toggle = ("Resume", "dr") if p.state == "paused" else ("Pause", "dp")
        screen.row((f"{toggle[0]} DCA #{p.pk}", toggle[1], p.pk), (f"Cancel DCA #{p.pk}", "dx", p.pk))
    for w in watches:
        status = f", now {w.launch_status}" if w.launch_status else ""
        if w.progress_pct is not None and w.launch_status == "PRE_GRAD":
            status += f", curve {w.progress_pct.normalize():f}% full"
        screen.text += f"\nWatch #{w.pk}: {w.symbol or w.mint[:6]} ({w.state}{status}).{_watch_buy(w)}"
        screen.button(f"Cancel watch #{w.pk}", "lw", w.pk)
    return screen


def orders_cb(account, inc, *args):
    return orders(account, inc)


def limit_cancel_cb(account, inc, limit_id):
    cancelled = limit_cancel(trader=account.trader, limit_id=int(limit_id))
    return orders(account, inc, note=f"Limit order #{cancelled.pk} cancelled.")


def watch_cancel_cb(account, inc, watch_id):
    cancelled = launch_watch_cancel(trader=account.trader, watch_id=int(watch_id))
    return orders(account, inc, note=f"Launch watch #{cancelled.pk} cancelled.")


def _dca_action(action: str, done: str):
    def screen(account, inc, plan_id):
        plan = dca_set_state(trader=account.trader, plan_id=int(plan_id), action=action)
        return orders(account, inc, note=f"DCA #{plan.pk} {done}.")
    return screen


dca_pause = _dca_action("pause", "paused")
dca_resume = _dca_action("resume", "resumed")
dca_cancel = _dca_action("cancel", "cancelled")


# --- from the token card: the same commands, asked for in a conversation --------------------------------------------
def limit_prompt(account, inc, ref):
    services.conversation_set(telegram_user_id=inc.user_id, state="limit_buy", data={"ref": int(ref)})
    return Screen("Send the limit price (SOL per token), the SOL to spend and optionally the expiry, like "
                  "0.00008 0.2 12h. /cancel to stop.")


def dca_prompt(account, inc, ref):
    services.conversation_set(telegram_user_id=inc.user_id, state="dca_plan", data={"ref": int(ref)})
    return Screen("Send the SOL per buy, the number of buys and the interval, and optionally max <price> and cap <SOL>, "
                  "like 0.1 5 4h max 0.0002. /cancel to stop.")


def _from_card(data) -> str | None:
    return services.mint_of(ref=data.get("ref", 0))


def limit_from_card(account, inc, text, data):
    mint = _from_card(data)
    services.conversation_clear(telegram_user_id=inc.user_id)
    if mint is None:
        return Screen("That token is unknown now; paste its address again.")
    parts = text.split()
    if len(parts) < 2:
        return Screen("Send at least the price and the SOL amount, like 0.00008 0.2. Tap Limit buy again to retry.")
    price, amount, *rest = parts
    return limit(account, inc, "buy", mint, amount, price, *rest)


def dca_from_card(account, inc, text, data):
    mint = _from_card(data)
    services.conversation_clear(telegram_user_id=inc.user_id)
    if mint is None:
        return Screen("That token is unknown now; paste its address again.")
    return dca(account, inc, mint, *text.split())
