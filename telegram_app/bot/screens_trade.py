"""Screens: token card, buy, sell, positions with exit-plan edits, PnL, trending."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from django.utils import timezone

from telegram_app import selectors, services
from telegram_app.bot.core import Answer, Photo, Screen
from telegram_app.parsers import ParseError, format_sol, parse_mint, parse_percent, parse_sol_amount
from telegram_app.bot.safety_card import accepted_from_mask, accepted_mask, safety_lines
from telegram_app.pnl_card import card_png, period_card_lines, position_card_lines, signed_percent, signed_sol, signed_usd
from trading.errors import VenueError
from trading.ratelimit import Priority, call_priority
from trading.safety import token_safety
from trading.selectors import (
    PNL_PERIODS,
    bags_top_tokens,
    pnl_period,
    pnl_summary,
    position_pnl,
    position_realised_pnl,
    price_get,
    price_now,
)
from trading.services import (
    exit_plan_update,
    position_open,
    position_sell,
    quote_preview,
    token_safety_check,
    trading_settings_get,
)
from trading.services.quotes import token_resolve
from trading.services.safety import risk_names
from trading.tpsl.plans import TakeProfitLeg, preset, spec_from_json, spec_summary

LADDERS = ("conservative", "balanced", "aggressive", "moon")
TRAILING_ON = (Decimal("30"), Decimal("15"))  # activation +30%, trail 15% below the peak


def _tokens(base_units: int, decimals: int) -> str:
    return f"{Decimal(base_units) / (Decimal(10) ** decimals):,.6g}"


def _price(value) -> str:
    return f"{Decimal(value):.6g}"


def percent_from_fraction(fraction: Decimal) -> str:
    """A fraction as the percent a trader reads: Decimal("0.0012") -> "0.12" (two decimals, at least one digit)."""
    return f"{(Decimal(fraction) * 100).quantize(Decimal('0.01')).normalize():f}"


# --- buy ----------------------------------------------------------------------------------------------
def token_card(account, inc, mint_text: str):
    mint = parse_mint(mint_text)
    with call_priority(Priority.PREVIEW):  # not essential: waits behind exits and entries, refused on a spent budget
        safety = token_safety(mint=mint)  # first: it looks the price up alongside the rest, token_resolve then reads it
        token, point = token_resolve(mint=mint)
    ref = services.mint_ref(mint=mint)
    facts = safety.facts
    name = f"{facts.name} ({facts.symbol})" if facts and facts.name else (token.symbol or mint[:6])
    usd = f" (${_price(point.usd)})" if point.usd is not None else ""
    screen = Screen(f"{name}  {mint}\nPrice: {_price(point.price)} SOL{usd} (source {point.source}, "
                    f"{point.age_seconds:.0f} s ago)\n{safety_lines(safety)}\nChoose how much SOL to spend:")
    presets = trading_settings_get(trader=account.trader).buy_presets_lamports or []
    screen.row(*[(f"{format_sol(v)} SOL", "bp", ref, v) for v in presets[:4]])
    screen.button("Custom amount", "bx", ref)
    screen.row(("Limit buy", "lb", ref), ("DCA", "dc", ref))
    return screen


def token_card_cb(account, inc, ref):
    mint = services.mint_of(ref=ref)
    return token_card(account, inc, mint) if mint else Answer("That token is unknown now; paste its address again.", alert=True)


def buy_command(account, inc, *args):
    if not args:
        return Screen("Send /buy <token address> [SOL], or just paste a token address.")
    mint = parse_mint(args[0])
    if len(args) == 1:
        return token_card(account, inc, mint)
    return buy_preview(account, inc, mint, parse_sol_amount(" ".join(args[1:])))


def buy_preview(account, inc, mint: str, lamports: int):
    with call_priority(Priority.PREVIEW):
        q = quote_preview(trader=account.trader, mint=mint, amount_lamports=lamports)
    risks = "\n".join(f"{'⛔' if f.critical else '⚠️'} {f.sentence}" for f in q.safety.findings)
    ref = services.mint_ref(mint=mint)
    text = (f"Buy {q.symbol or mint[:6]} for {format_sol(q.amount_lamports)} SOL ({q.mode})\n"
            f"Expected: {_tokens(q.expected_tokens, q.decimals)} tokens (at least {_tokens(q.min_tokens, q.decimals)})\n"
            f"Price: {_price(q.price)} SOL  impact ~{percent_from_fraction(q.price_impact)}%\n"
            f"{buy_costs(q)}\n"
            f"Exit plan: {q.exit_plan}")
    text = f"{text}\n{risks}" if risks else text
    if q.refused:
        return Screen(f"{text}\n\nCannot buy now: {q.refused}")
    if q.to_accept:
        return (Screen(f"{text}\n\nCritical risks: {risk_names(q.to_accept)}. Buy only if you accept them.")
                .row(("⚠️ Accept the risks and buy", "ba", ref, lamports, accepted_mask(q.to_accept)), ("Cancel", "no")))
    return Screen(text).row(("✅ Confirm buy", "bc", ref, lamports), ("Cancel", "no"))


def buy_costs(q) -> str:
    """What the buy takes besides the amount, each apart: the venue's fee (inside the quote), network fees and the rent
    of a new token account (returned when the sell that empties it closes it)."""
    venue = f"venue fee {format_sol(q.fee_lamports)} SOL (in the price)" if q.fee_lamports else "venue fee in the price"
    lines = [f"Fees: {venue}"]
    if q.network_fee_lamports or q.priority_fee_max_lamports:
        lines[0] += (f"; network {format_sol(q.network_fee_lamports)} SOL + priority up to "
                     f"{format_sol(q.priority_fee_max_lamports)} SOL")
    if q.rent_lamports:
        lines.append(f"Rent: {format_sol(q.rent_lamports)} SOL for the new token account (back when you sell it all)")
    if q.network_fee_lamports or q.priority_fee_max_lamports or q.rent_lamports:
        lines.append(f"Total: at most {format_sol(q.total_max_lamports)} SOL from your wallet")
    return "\n".join(lines)


def buy_preview_cb(account, inc, ref, lamports):
    mint = services.mint_of(ref=ref)
    if mint is None:
        return Answer("That token is unknown now; paste its address again.", alert=True)
    return buy_preview(account, inc, mint, int(lamports))


def buy_custom_prompt(account, inc, ref):
    services.conversation_set(telegram_user_id=inc.user_id, state="buy_amount", data={"ref": int(ref)})
    return Screen("How much SOL? Send an amount like 0.25. /cancel to stop.")


def buy_custom_amount(account, inc, text, data):
    lamports = parse_sol_amount(text)
    mint = services.mint_of(ref=data.get("ref", 0))
    services.conversation_clear(telegram_user_id=inc.user_id)
    if mint is None:
        return Screen("That token is unknown now; paste its address again.")
    return buy_preview(account, inc, mint, lamports)


def buy_confirm(account, inc, ref, lamports, mask="0"):
    """The buy, after the token's safety check: a button signed with the critical risks the trader accepted ("ba")
    carries them in `mask`; the plain confirm ("bc") accepts none."""
    mint = services.mint_of(ref=ref)
    if mint is None:
        return Answer("That token is unknown now; paste its address again.", alert=True)
    token_safety_check(trader=account.trader, mint=mint, accepted=accepted_from_mask(mask))
    position = position_open(trader=account.trader, mint=mint, amount_lamports=int(lamports))
    return Screen(f"Buy order placed for {format_sol(int(lamports))} SOL of {position.token.symbol or mint[:6]} "
                  f"(position #{position.pk}). I will message you when it fills.")


# --- positions and sells -----------------------------------------------------------------------------
def positions(account, inc, *args):
    rows = selectors.positions_open(trader=account.trader)
    if not rows:
        return Screen("You have no open positions. Paste a token address to buy one.")
    screen = Screen("Open positions:")
    values = selectors.position_values_lamports(rows)
    for p in rows:
        screen.text += "\n" + _position_line(p, values[p.pk])
        screen.button(f"#{p.pk} {p.token.symbol or p.token.mint[:6]}", "pv", p.pk)
    return screen


_LOOK_UP = object()


def _position_line(p, value=_LOOK_UP) -> str:
    """One line about a position; ``value`` is its worth (None: no price), looked up here when not given."""
    if value is _LOOK_UP:
        value = selectors.position_value_lamports(p)
    pnl = "no price yet" if value is None else f"PnL {'+' if value >= p.cost_lamports else ''}{format_sol(value - p.cost_lamports)} SOL"
    return (f"#{p.pk} {p.token.symbol or p.token.mint[:6]} {p.status}: {_tokens(p.size, p.token.decimals)} tokens, "
            f"cost {format_sol(p.cost_lamports)} SOL, {pnl}")


def _pnl_line(pnl) -> str:
    if pnl is None:
        return "PnL: no price yet"
    sign = "+" if pnl["pnl_lamports"] >= 0 else ""
    pct = "" if pnl["pnl_pct"] is None else f"{sign}{pnl['pnl_pct'].quantize(Decimal('0.01'))}%, "
    usd = "USD unavailable" if pnl["pnl_usd"] is None else f"{sign or '-'}${abs(pnl['pnl_usd'])}"
    return f"PnL: {pct}{sign}{format_sol(pnl['pnl_lamports'])} SOL, {usd}"


def position_card_cb(account, inc, position_id, refresh=0):
    """The position: PnL in percent, SOL and USD, its exit plan and what a trader can change; Refresh fetches the price."""
    p = selectors.position_of(trader=account.trader, position_id=int(position_id))
    if p is None:
        return Answer("You have no position with that number.", alert=True)
    if p.status == "closed":
        return closed_position(p)

    point = price_now(mint=p.token.mint) if str(refresh) == "1" else price_get(mint=p.token.mint)
    spec = spec_from_json(p.exit_plan.spec)
    fired = p.exit_plan.legs.filter(status="filled").count()
    text = (f"{_position_line(p)}\n{_pnl_line(position_pnl(position=p, price=point.price if point else None))}\n"
            f"Entry {_price(p.entry_price or 0)} SOL, now "
            f"{_price(point.price) + ' SOL' if point else 'no price'}\nExit plan: {spec_summary(spec, legs_done=fired)}\n"
            f"Take-profit legs filled: {fired} of {len(spec.take_profits)}")
    trailing = spec.trailing_distance_pct is not None
    return (Screen(text)
            .row(("Sell 25%", "sp", p.pk, 25), ("50%", "sp", p.pk, 50), ("100%", "sp", p.pk, 100))
            .row(("Edit stop-loss", "se", p.pk), ("Edit take-profit", "te", p.pk))
            .row(*[(name.capitalize(), "lp", p.pk, name) for name in LADDERS])
            .row((f"Trailing stop {'off' if trailing else 'on'}", "tr", p.pk, 0 if trailing else 1),
                 ("Trailing figures", "tf", p.pk))
            .row((f"Break-even after TP1 {'off' if spec.breakeven_after_first_tp else 'on'}", "be", p.pk,
                  0 if spec.breakeven_after_first_tp else 1), ("Time stop", "ts", p.pk))
            .row(("🔄 Refresh", "pv", p.pk, 1), ("« Positions", "ps")))


def closed_position(p):
    """A closed position: what it made (the core's realised figures), and the card to share."""
    r = position_realised_pnl(position=p)
    usd = signed_usd(r["pnl_usd"])
    text = (f"#{p.pk} {p.token.symbol or p.token.mint[:6]} closed ({p.mode})\n"
            f"Realised PnL: {signed_percent(r['pnl_pct'])}, {signed_sol(r['pnl_lamports'])}"
            f"{', ' + usd if usd else ', USD unavailable'}\n"
            f"Entry {_price(r['entry_price'] or 0)} SOL, average exit "
            f"{_price(r['exit_price']) + ' SOL' if r['exit_price'] is not None else '—'}\n"
            f"Cost {format_sol(r['cost_lamports'])} SOL, received {format_sol(r['proceeds_lamports'])} SOL")
    return Screen(text).row(("📸 Share card", "cc", p.pk), ("« PnL", "pn"))


def position_share(account, inc, position_id):
    """The closed position's PnL card as a picture (a position still open has no final figures yet)."""
    p = selectors.position_of(trader=account.trader, position_id=int(position_id))
    if p is None:
        return Answer("You have no position with that number.", alert=True)
    if p.status != "closed":
        return Answer("A card is made once the position is closed.", alert=True)
    card = position_card_lines(symbol=p.token.symbol, mint=p.token.mint, mode=p.mode,
                               figures=position_realised_pnl(position=p))
    return [Photo(card_png(card), card.caption), Answer("Card sent: forward it to share.")]


def sell_list(account, inc, *args):
    rows = [p for p in selectors.positions_open(trader=account.trader) if p.status == "open"]
    if not rows:
        return Screen("You hold nothing to sell right now.")
    screen = Screen("Which holding do you want to sell?")
    for p in rows:
        screen.button(f"#{p.pk} {p.token.symbol or p.token.mint[:6]} {_tokens(p.size, p.token.decimals)}", "sv", p.pk)
    return screen


def sell_pick(account, inc, position_id):
    p = selectors.position_of(trader=account.trader, position_id=int(position_id))
    if p is None:
        return Answer("You have no position with that number.", alert=True)
    return (Screen(f"Sell how much of {_position_line(p)}?")
            .row(("25%", "sp", p.pk, 25), ("50%", "sp", p.pk, 50), ("100%", "sp", p.pk, 100))
            .button("Custom percent", "sx", p.pk))


def sell_preview(account, inc, position_id, percent):
    p = selectors.position_of(trader=account.trader, position_id=int(position_id))
    if p is None:
        return Answer("You have no position with that number.", alert=True)
    pct = parse_percent(str(percent))
    value = selectors.position_value_lamports(p)
    worth = "no current price" if value is None else f"about {format_sol(int(value * pct / 100))} SOL before fees"
    amount = p.size * pct / 100
    return (Screen(f"Sell {pct}% of #{p.pk} {p.token.symbol or p.token.mint[:6]}: {_tokens(int(amount), p.token.decimals)} "
                   f"tokens, {worth}.")
            .row(("✅ Confirm sell", "sc", p.pk, pct), ("Cancel", "no")))


def sell_custom_prompt(account, inc, position_id):
    services.conversation_set(telegram_user_id=inc.user_id, state="sell_percent", data={"position": int(position_id)})
    return Screen("What percent of the position? Send a number like 30. /cancel to stop.")


def sell_custom_percent(account, inc, text, data):
    pct = parse_percent(text)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return sell_preview(account, inc, data.get("position", 0), pct)


def sell_confirm(account, inc, position_id, percent):
    order = position_sell(trader=account.trader, position_id=int(position_id), percent=Decimal(percent))
    return Screen(f"Sell order #{order.pk} placed for {percent}% of position #{position_id}. I will message you when it fills.")


# --- exit plan edits ------------------------------------------------------------------------------------
def _spec(account, position_id):
    p = selectors.position_of(trader=account.trader, position_id=int(position_id))
    if p is None:
        raise ParseError("You have no position with that number.", "not_found")
    return p, spec_from_json(p.exit_plan.spec)


def _update(account, inc, position_id, spec, what: str):
    exit_plan_update(trader=account.trader, position_id=int(position_id), spec=spec)
    services.conversation_clear(telegram_user_id=inc.user_id)
    return Screen(f"{what} updated for #{position_id}. Exit plan: {spec_summary(spec)}").button("« Position", "pv", position_id)


def stop_prompt(account, inc, position_id):
    _spec(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="stop_loss", data={"position": int(position_id)})
    return Screen("Send the stop-loss as a percent below your entry price, like 20. /cancel to stop.")


def stop_set(account, inc, text, data):
    pct = parse_percent(text, maximum=Decimal("99"))
    p, spec = _spec(account, data.get("position", 0))
    return _update(account, inc, p.pk, replace(spec, stop_loss_pct=pct), "Stop-loss")


def take_profit_prompt(account, inc, position_id):
    _spec(account, position_id)
    services.conversation_set(telegram_user_id=inc.user_id, state="take_profit", data={"position": int(position_id)})
    return Screen("Send the take-profit as a gain in percent above entry, like 100 for 2x; it sells the whole position "
                  "there. For a ladder use the preset buttons. /cancel to stop.")


def take_profit_set(account, inc, text, data):
    gain = parse_percent(text, maximum=Decimal("100000"))
    p, spec = _spec(account, data.get("position", 0))
    legs = (TakeProfitLeg(trigger_multiple=1 + gain / 100, fraction=Decimal("1")),)
    return _update(account, inc, p.pk, replace(spec, take_profits=legs), "Take-profit")


def ladder_set(account, inc, position_id, name):
    p, spec = _spec(account, position_id)
    chosen = preset(name)
    return _update(account, inc, p.pk, replace(spec, take_profits=chosen.take_profits), f"Ladder '{name}'")


def trailing_set(account, inc, position_id, on):
    p, spec = _spec(account, position_id)
    activation, distance = TRAILING_ON if str(on) == "1" else (None, None)
    spec = replace(spec, trailing_activation_pct=activation, trailing_distance_pct=distance)
    return _update(account, inc, p.pk, spec, "Trailing stop")


# --- pnl and trending ---------------------------------------------------------------------------------------
def pnl(account, inc, *args):
    f = pnl_summary(trader=account.trader)

    def fmt(v):
        return ("+" if v > 0 else "") + format_sol(v) + " SOL"

    note = "" if not f["unpriced_positions"] else f"\n({f['unpriced_positions']} open positions have no current price and are left out)"
    screen = Screen(f"Realised PnL\nToday: {fmt(f['today']['realised_lamports'])}\nThis week: {fmt(f['week']['realised_lamports'])}\n"
                    f"All time: {fmt(f['all']['realised_lamports'])}\n"
                    f"Unrealised (open positions): {fmt(f['all']['unrealised_lamports'])}{note}")
    screen.row(("📸 Share card: today", "pc", "today"), ("week", "pc", "week"), ("all time", "pc", "all"))
    closed = selectors.positions_closed(trader=account.trader)
    if closed:
        screen.text += "\nRecently closed (tap one for its card):"
        for p in closed:
            screen.button(f"#{p.pk} {p.token.symbol or p.token.mint[:6]} closed", "pv", p.pk)
    return screen


def pnl_share(account, inc, period):
    """The period's PnL card as a picture: the same figures as /pnl's realised lines (trading.selectors.pnl_period)."""
    if period not in PNL_PERIODS:
        return Answer("That button no longer does anything. Send /pnl again.", alert=True)
    card = period_card_lines(period=period, figures=pnl_period(trader=account.trader, period=period), now=timezone.now())
    return [Photo(card_png(card), card.caption), Answer("Card sent: forward it to share.")]


def trending(account, inc, *args):
    """bags.fm's top tokens in bags.fm's order, each with a buy button (the token card)."""
    try:
        with call_priority(Priority.PREVIEW):
            tokens = bags_top_tokens(limit=8)
    except VenueError as exc:
        if exc.code == "budget_exhausted":
            return Screen(exc.message)
        return Screen("bags.fm's top tokens are unavailable right now; try again in a minute, or paste a token address.")
    if not tokens:
        return Screen("bags.fm lists no top tokens right now; paste a token address to trade one.")
    screen = Screen("Top tokens on bags.fm (by lifetime fees):")
    for rank, t in enumerate(tokens, 1):
        name = t.symbol or t.mint[:6]
        price = f"{_price(t.price_sol)} SOL" if t.price_sol is not None else "no price"
        change = f", {'+' if t.price_change_pct > 0 else ''}{t.price_change_pct}%" if t.price_change_pct is not None else ""
        screen.text += f"\n{rank}. {name}: {price}{change}"
        screen.button(f"Buy {name}", "tc", services.mint_ref(mint=t.mint))
    return screen
